"""Revision 0017 (address changes) on a populated database: accounts, their codes, pending
messages and dead letters survive and still work, and an account made before it changes its
address; the downgrade removes what the older code cannot know (the new purposes' messages and
codes) and keeps every other row."""

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


def _statuses(engine: Engine) -> dict[str, str]:
    return {str(r["recipient"]): str(r["status"]) for r in rows(engine, "outbox")}


def test_0017_keeps_the_history_and_lets_an_older_account_change_its_address(
    database_url: str, engine: Engine, client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    # Registered by today's code, which writes what 0016 lacks (its history), then taken back.
    registered = client.post(
        "/v1/registrations", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 202
    command.downgrade(config, "0016")
    dead = dead_one(engine, "dead@example.com")
    queue_one(engine, "later@example.com")

    command.upgrade(config, "head")
    assert _statuses(engine) == {
        "ada@example.com": "pending",
        "dead@example.com": "dead",
        "later@example.com": "pending",
    }
    assert [t["address"] for t in rows(engine, "verification_tokens")] == [None]
    assert relay.drain() == 2
    activation = next(m for m in smtp.sink.received if str(m["To"]) == "ada@example.com")
    activated = client.post(
        "/v1/activations", json={"email": "ada@example.com", "code": code_in(activation)}
    )
    assert activated.status_code == 200
    with engine.connect() as connection:
        listed = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters"))
        assert list(listed.scalars()) == [dead]

    forget_throttles(engine)
    change = {"email": "ada@example.com", "password": PASSWORD, "new_email": "ada@new.example.com"}
    assert client.post("/v1/address-changes", json=change).status_code == 202
    relay.drain()
    mail = next(m for m in smtp.sink.received if str(m["To"]) == "ada@new.example.com")
    confirm = {
        "email": "ada@example.com",
        "code": code_in(mail),
        "new_email": "ada@new.example.com",
    }
    assert client.post("/v1/address-changes/confirm", json=confirm).status_code == 200
    forget_throttles(engine)
    change = {
        "email": "ada@new.example.com",
        "password": PASSWORD,
        "new_email": "ada@third.example.com",
    }
    assert client.post("/v1/address-changes", json=change).status_code == 202
    before = {str(r["purpose"]) for r in rows(engine, "outbox")}
    assert {"address_change", "address_changed"} <= before

    command.downgrade(config, "0016")
    after = rows(engine, "outbox")
    assert {str(r["purpose"]) for r in after} == before - {"address_change", "address_changed"}
    assert [str(t["purpose"]) for t in rows(engine, "verification_tokens")] == ["activation"]
    assert "address" not in rows(engine, "verification_tokens")[0]
    assert [str(u["email"]) for u in rows(engine, "users")] == ["ada@new.example.com"]
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("UPDATE outbox SET purpose = 'address_change'"))
    command.upgrade(config, "head")
    assert len(rows(engine, "outbox")) == len(after)
