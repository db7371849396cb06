"""Retention: what `purge` deletes once it has outlived its window."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from shared.accounts import UserStatus
from shared.config import DASHBOARD_SESSION_SECONDS, Settings
from shared.models import (
    idempotency_keys,
    outbox,
    provider_notifications,
    throttle_events,
    users,
)
from shared.operations.audit import record
from shared.operations.dead_letters import DEAD_STATUSES
from shared.outbox import Status

# The most rows one of purge's transactions deletes (with their attempts and provider events):
# a batch commits in tens of milliseconds (bench/scale_data.py).
PURGE_BATCH = 1000
_SENT = (Status.SENT, Status.WITHHELD)


@dataclass(frozen=True)
class Purged:
    """How many rows a purge removed, by kind."""

    sent: int
    dead: int
    cancelled: int
    unactivated_accounts: int
    throttle_events: int
    idempotency_keys: int
    provider_notifications: int


def purge(
    connection: Connection,
    settings: Settings,
    *,
    actor: str,
    now: datetime,
    batch: int = PURGE_BATCH,
) -> Purged:
    """Delete what has outlived its retention window; attempts go with their messages.

    A batch of at most `batch` rows at a time, each committed on `connection` (which must not
    be in a transaction its caller controls): no lock is held for long, and none on a row
    another transaction holds (SKIP LOCKED), so registrations and claims never wait for a
    purge, and a purge stopped halfway keeps what it deleted. Each batch reads an index of its
    rows by age, oldest first."""
    day_ago = now - timedelta(days=1)
    sent_before = now - timedelta(days=settings.retention_sent_days)
    dead_before = now - timedelta(days=settings.retention_dead_days)
    accounts_before = now - timedelta(days=settings.retention_unactivated_days)
    # Throttle windows are an hour at most; codes' tries last as long as the longest code.
    events_before = now - timedelta(
        seconds=max(DASHBOARD_SESSION_SECONDS, settings.activation_ttl, settings.reset_ttl)
    )

    def remove(table: Any, *where: ColumnElement[bool]) -> int:
        return _in_batches(connection, table, batch, *where)

    def messages(status: str, age: Any, before: datetime) -> int:
        return remove(outbox, outbox.c.status == status, age < before)

    purged = Purged(
        sent=sum(messages(status, outbox.c.sent_at, sent_before) for status in _SENT),
        dead=sum(messages(status, outbox.c.created_at, dead_before) for status in DEAD_STATUSES),
        cancelled=messages(Status.CANCELLED, outbox.c.created_at, dead_before),
        unactivated_accounts=_remove_unactivated(connection, accounts_before, batch),
        throttle_events=remove(throttle_events, throttle_events.c.at < events_before),
        idempotency_keys=remove(idempotency_keys, idempotency_keys.c.created_at < day_ago),
        # SNS retries a notification for an hour at most.
        provider_notifications=remove(
            provider_notifications, provider_notifications.c.received_at < day_ago
        ),
    )
    record(connection, actor, "purge", None, asdict(purged), now)
    connection.commit()
    return purged


def _in_batches(connection: Connection, table: Any, batch: int, *where: ColumnElement[bool]) -> int:
    """Delete the rows `where` picks from `table`, `batch` at a time, each batch committed;
    how many."""
    key = tuple_(*table.primary_key.columns)
    chosen = select(*table.primary_key.columns).where(*where).limit(batch)
    statement = delete(table).where(key.in_(chosen.with_for_update(skip_locked=True)))
    total = 0
    while True:
        deleted = int(connection.execute(statement).rowcount)
        connection.commit()
        total += deleted
        if deleted < batch:
            return total


def _remove_unactivated(connection: Connection, created_before: datetime, batch: int) -> int:
    """Delete accounts never activated, with their messages, so their addresses are free; a
    batch of accounts at a time."""
    stale = (
        select(users.c.id)
        .where(users.c.status == UserStatus.PENDING, users.c.created_at < created_before)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    total = 0
    while True:
        ids = list(connection.execute(stale).scalars())
        connection.execute(delete(outbox).where(outbox.c.user_id.in_(ids)))
        total += int(connection.execute(delete(users).where(users.c.id.in_(ids))).rowcount)
        connection.commit()
        if len(ids) < batch:
            return total
