"""Revision 0033 (a code's fallback on the other channel) on a populated database: a message
written at 0032 survives the upgrade with no fallback decided, and its code still activates;
the downgrade keeps the messages, their fallback columns dropped."""

from __future__ import annotations

from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.database.db import alembic_config
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}


def test_0033_keeps_the_messages_written_before_it_without_a_fallback(
    database_url: str, engine: Engine, client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0032")
    assert client.post("/v1/registrations", json=ADA).status_code == 202
    [before] = rows(engine, "outbox")
    assert "fallback_at" not in before

    command.upgrade(config, "head")
    [after] = rows(engine, "outbox")
    assert after == {**before, "fallback_at": None, "fallback_id": None}
    relay.drain()
    code = code_in(smtp.sink.wait_for(1)[0])
    body = {"email": ADA["email"], "code": code}
    assert client.post("/v1/activations", json=body).status_code == 200

    command.downgrade(config, "0032")
    assert all("fallback_id" not in row for row in rows(engine, "outbox"))
    command.upgrade(config, "head")
