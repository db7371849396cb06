"""Revision 0028 (a code's link token) on a populated database: an account and its live code
written at 0027 survive the upgrade, and the code, which has no token, still activates; the
downgrade keeps the codes, their tokens dropped."""

from __future__ import annotations

from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.database.db import alembic_config
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}


def test_0028_keeps_the_codes_written_before_it_and_they_still_work(
    database_url: str, engine: Engine, client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    assert client.post("/v1/registrations", json=ADA).status_code == 202
    relay.drain()
    code = code_in(smtp.sink.wait_for(1)[0])
    command.downgrade(config, "0027")
    [before] = rows(engine, "verification_tokens")
    assert "link_hmac" not in before

    command.upgrade(config, "head")
    [after] = rows(engine, "verification_tokens")
    assert after == {**before, "link_hmac": None}
    body = {"email": ADA["email"], "code": code}
    assert client.post("/v1/activations", json=body).status_code == 200

    command.downgrade(config, "0027")
    [kept] = rows(engine, "verification_tokens")
    assert kept["status"] == "used" and "link_hmac" not in kept
    command.upgrade(config, "head")
