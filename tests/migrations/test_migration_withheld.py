"""Revision 0014 (withheld notices, the `unsubscribed` reason) on a populated database: rows,
attempts and dead letters survive; the "no account" SMS queued before it are withheld, not
sent; the downgrade ends withheld rows as their clients saw them, sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import alembic_config
from shared.messaging.suppressions import Suppressor
from support.bulk import queue_one
from support.constants import SECRET_KEY, MakeRelay
from support.rows import rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer

# What a "no account" notice answering a password reset carries.
STRANGER = {"answers_as": "password_reset"}


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server standing in for the SMS gateway; answers 202."""
    with SmsGateway(mode=202) as server:
        yield server


def _by_id(engine: Engine) -> dict[str, dict[str, object]]:
    return {str(r["public_id"]): r for r in rows(engine, "outbox")}


def test_0014_withholds_queued_sms_to_strangers_and_keeps_the_history(
    database_url: str,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0013")
    dead = queue_one(engine, "ada@example.com")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE outbox SET status = 'dead', dead_reason = 'expired'"))
        Suppressor.under(SECRET_KEY).add(
            connection, "bob@example.com", reason="complaint", source="ses", now=utcnow()
        )
    stranger_sms = queue_one(
        engine, "+33698765432", purpose="no_account", channel="sms", params=STRANGER
    )
    stranger_mail = queue_one(engine, "carol@example.com", purpose="no_account", params=STRANGER)
    welcome = queue_one(engine, "dan@example.com")

    command.upgrade(config, "head")
    before = _by_id(engine)
    assert [before[i]["withhold"] for i in (dead, stranger_sms, stranger_mail, welcome)] == [
        False,
        True,
        False,
        False,
    ]
    relay = make_relay(sms_url=gateway.url + "/sms", public_url="https://api.outpost.test")
    assert relay.drain() == 3
    assert gateway.requests == []
    assert sorted(str(m["To"]) for m in smtp.sink.received) == [
        "carol@example.com",
        "dan@example.com",
    ]
    after = _by_id(engine)
    assert [after[i]["status"] for i in (dead, stranger_sms, stranger_mail, welcome)] == [
        "dead",
        "withheld",
        "sent",
        "sent",
    ]
    with engine.connect() as connection:
        listed = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters"))
        assert list(listed.scalars()) == [dead]
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection,
            "erin@example.com",
            reason="unsubscribed",
            source="unsubscribe",
            now=utcnow(),
        )

    command.downgrade(config, "0013")
    down = _by_id(engine)
    assert [down[i]["status"] for i in (dead, stranger_sms, stranger_mail, welcome)] == [
        "dead",
        "sent",
        "sent",
        "sent",
    ]
    assert "withhold" not in down[dead]
    assert sorted((r["address"], r["reason"]) for r in rows(engine, "suppressions")) == [
        ("bob@example.com", "complaint"),
        ("erin@example.com", "complaint"),
    ]
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("UPDATE outbox SET status = 'withheld'"))
    command.upgrade(config, "head")
    assert {r["status"] for r in rows(engine, "outbox")} == {"dead", "sent"}
