"""Retention and the backlog, straight against the database."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, insert, text, update

from outbox_relay import claims
from outbox_relay.daemon import Daemon
from outbox_relay.wake import Wake
from shared import operations
from shared.clock import utcnow
from shared.database.models import idempotency_keys, outbox, outbox_attempts, throttle_events, users
from shared.settings.config import Settings
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.rows import count, forget_throttles, rows

PASSWORD = "correct horse battery staple"


def test_backlog_counts_pending_and_due_rows_and_the_oldest_wait(
    engine: Engine, claimer: claims.Claimer
) -> None:
    queue_emails(engine, 3)
    now = utcnow()
    claimer.claim(now=now, limit=1, lease_seconds=60)
    later = now + timedelta(seconds=30)
    with engine.connect() as connection:
        backlog = operations.backlog(connection, later)
        assert (backlog.pending, backlog.due) == (3, 2)
        assert 30 <= backlog.oldest_due_age < 40
    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET status = 'sent'"))
    with engine.connect() as connection:
        assert operations.backlog(connection, later) == operations.Backlog(0, 0, 0.0)


def age(engine: Engine, recipient: str, days: float, **values: Any) -> None:
    """Make a message `days` old, with its other columns set to `values`."""
    then = utcnow() - timedelta(days=days)
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.recipient == recipient)
            .values(created_at=then, **{k: then if v == "then" else v for k, v in values.items()})
        )


def test_purge_keeps_what_is_younger_than_its_window(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay
) -> None:
    for name in ("sent8", "sent6", "dead31", "dead29", "cancelled31", "cancelled29"):
        queue_emails(engine, 1, prefix=name)
    age(engine, "sent80@example.com", 8, status="sent", sent_at="then")
    age(engine, "sent60@example.com", 6, status="sent", sent_at="then")
    age(engine, "dead310@example.com", 31, status="dead", dead_reason="max_attempts")
    age(engine, "dead290@example.com", 29, status="dead", dead_reason="max_attempts")
    age(engine, "cancelled310@example.com", 31, status="cancelled")
    age(engine, "cancelled290@example.com", 29, status="cancelled")
    messages = rows(engine, "outbox")
    with engine.begin() as connection:
        for message in messages:
            connection.execute(
                insert(outbox_attempts).values(
                    outbox_id=message["id"],
                    attempted_at=utcnow(),
                    outcome="transient",
                    duration_ms=1,
                )
            )
    for email in ("old@example.com", "young@example.com"):
        assert client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    long_ago = utcnow() - timedelta(days=8)
    with engine.begin() as connection:
        connection.execute(
            update(users).where(users.c.email == "old@example.com").values(created_at=long_ago)
        )
        connection.execute(
            insert(throttle_events),
            [{"key": "a" * 64, "at": long_ago}, {"key": "b" * 64, "at": utcnow()}],
        )
        connection.execute(
            insert(idempotency_keys),
            [
                {"key": "c" * 64, "request_hmac": "x", "created_at": long_ago},
                {"key": "d" * 64, "request_hmac": "x", "created_at": utcnow()},
            ],
        )

    Daemon(make_relay(), Wake()).purge()

    left = {r["recipient"] for r in rows(engine, "outbox")}
    assert left == {
        "sent60@example.com",
        "dead290@example.com",
        "cancelled290@example.com",
        "young@example.com",
    }
    assert count(engine, "outbox_attempts") == 3
    assert [u["email"] for u in rows(engine, "users")] == ["young@example.com"]
    assert count(engine, "verification_tokens") == 1
    assert count(engine, "throttle_events") >= 1
    assert [k["key"] for k in rows_of(engine, "idempotency_keys")] == ["d" * 64]
    [action] = rows(engine, "operator_actions")
    assert (action["actor"], action["action"]) == ("relay:retention", "purge")
    assert action["details"]["sent"] == 1 and action["details"]["unactivated_accounts"] == 1

    forget_throttles(engine)
    again = client.post(
        "/v1/registrations", json={"email": "old@example.com", "password": PASSWORD}
    )
    assert again.status_code == 202
    assert count(engine, "users") == 2


def rows_of(engine: Engine, table: str) -> list[dict[str, Any]]:
    """Every row of a table without an id column."""
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table}"))]


def test_the_purge_keeps_events_a_day_whatever_the_code_lifetimes(
    engine: Engine, settings: Settings
) -> None:
    """An account's wrong codes are counted over a day (SPEC "Codes"), and a sign-out must
    outlive the session it ends (8 hours), even where codes live 10 minutes."""
    short = dataclasses.replace(settings, activation_ttl=600, reset_ttl=600)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(throttle_events),
            [
                {"key": "a" * 64, "at": now - timedelta(hours=23, minutes=59)},
                {"key": "b" * 64, "at": now - timedelta(hours=24, minutes=1)},
            ],
        )
    with engine.connect() as connection:
        operations.purge(connection, short, actor="test", now=now)
    assert [e["key"] for e in rows_of(engine, "throttle_events")] == ["a" * 64]
