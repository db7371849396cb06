"""Revision 0023 (sign-in codes) on a populated database: accounts, pending messages and dead
letters survive and still work, and an account made before it signs in by code; the downgrade
removes what the older code cannot know (sign-in codes and their messages) and keeps every
other row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.database.db import alembic_config
from support.bulk import dead_one, queue_one
from support.rows import forget_throttles, rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
ADA = "ada@example.com"


def _statuses(engine: Engine) -> dict[str, str]:
    return {str(r["recipient"]): str(r["status"]) for r in rows(engine, "outbox")}


def _newest_code(smtp: SinkServer) -> str:
    return code_in([m for m in smtp.sink.received if str(m["To"]) == ADA][-1])


def test_0023_keeps_the_history_and_lets_an_older_account_sign_in_by_code(
    database_url: str, engine: Engine, client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    assert (
        client.post("/v1/registrations", json={"email": ADA, "password": PASSWORD}).status_code
        == 202
    )
    relay.drain()
    activation = {"email": ADA, "code": _newest_code(smtp)}
    assert client.post("/v1/activations", json=activation).status_code == 200
    relay.drain()
    command.downgrade(config, "0022")
    dead = dead_one(engine, "dead@example.com")
    queue_one(engine, "later@example.com")

    command.upgrade(config, "head")
    assert _statuses(engine) == {
        ADA: "sent",
        "dead@example.com": "dead",
        "later@example.com": "pending",
    }
    with engine.connect() as connection:
        listed = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters"))
        assert list(listed.scalars()) == [dead]
    assert relay.drain() == 1
    forget_throttles(engine)
    assert client.post("/v1/login-codes", json={"email": ADA}).status_code == 202
    assert relay.drain() == 1
    signed_in = client.post(
        "/v1/login-codes/confirm", json={"email": ADA, "code": _newest_code(smtp)}
    )
    assert signed_in.status_code == 200
    forget_throttles(engine)
    assert client.post("/v1/login-codes", json={"email": ADA}).status_code == 202
    before = rows(engine, "outbox")
    assert sum(r["purpose"] == "login_code" for r in before) == 2

    command.downgrade(config, "0022")
    after = rows(engine, "outbox")
    assert [r["public_id"] for r in after] == [
        r["public_id"] for r in before if r["purpose"] != "login_code"
    ]
    assert {str(t["purpose"]) for t in rows(engine, "verification_tokens")} == {"activation"}
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("UPDATE outbox SET purpose = 'login_code'"))
    command.upgrade(config, "head")
    assert len(rows(engine, "outbox")) == len(after)
