"""Revision 0032 (providers' pauses shared by relays, `provider.down`/`provider.up`) on a
populated database: a registration written at 0030 survives the upgrade and its mail leaves;
an operator's pause and an event written after it are taken; the downgrade drops both, and
keeps the rest."""

from __future__ import annotations

from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.db import alembic_config
from shared.messaging import provider_pauses
from shared.messaging.events import EventType, provider_changed
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.rows import on_common_columns, rows
from support.smtp_sink import SinkServer

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}
HOOKED = {"webhook_url": "http://127.0.0.1:9/hooks", "webhook_secret": b"0123456789abcdef"}


def test_0032_keeps_what_0030_wrote_and_takes_pauses_and_their_events(
    database_url: str,
    engine: Engine,
    client: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    settings: Settings,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0030")
    assert client.post("/v1/registrations", json=ADA).status_code == 202
    before = rows(engine, "outbox")

    command.upgrade(config, "head")
    after, before = on_common_columns(rows(engine, "outbox"), before)
    assert after == before and rows(engine, "provider_pauses") == []
    relay.drain()
    assert len(smtp.sink.wait_for(1)) == 1
    now = utcnow()
    with engine.begin() as connection:
        provider_pauses.pause_by_hand(
            connection, "smtp", actor="cli:ops", reason="planned", until=None, now=now
        )
        [pause] = provider_pauses.pauses(connection).values()
        hooked = settings.replace(**HOOKED)
        box = SecretBox(*settings.secret_keys)
        provider_changed(connection, hooked, box, pause, EventType.PROVIDER_DOWN, now=now)
    assert [r["purpose"] for r in rows(engine, "outbox")][-1] == "provider.down"

    command.downgrade(config, "0030")
    kept = rows(engine, "outbox")
    assert [r["purpose"] for r in kept] == ["activation"] and kept[0]["status"] == "sent"
    command.upgrade(config, "head")
    assert rows(engine, "provider_pauses") == []
