"""Retention: what `purge` deletes once it has outlived its window."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select
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


def purge(connection: Connection, settings: Settings, *, actor: str, now: datetime) -> Purged:
    """Delete what has outlived its retention window; attempts go with their messages."""
    day_ago = now - timedelta(days=1)
    sent_before = now - timedelta(days=settings.retention_sent_days)
    dead_before = now - timedelta(days=settings.retention_dead_days)
    accounts_before = now - timedelta(days=settings.retention_unactivated_days)
    # Throttle windows are an hour at most; codes' tries last as long as the longest code.
    events_before = now - timedelta(
        seconds=max(DASHBOARD_SESSION_SECONDS, settings.activation_ttl, settings.reset_ttl)
    )

    def remove(table: Any, *where: ColumnElement[bool]) -> int:
        return int(connection.execute(delete(table).where(*where)).rowcount)

    purged = Purged(
        sent=sum(
            remove(outbox, outbox.c.status == status, outbox.c.sent_at < sent_before)
            for status in (Status.SENT, Status.WITHHELD)
        ),
        dead=remove(outbox, outbox.c.status.in_(DEAD_STATUSES), outbox.c.created_at < dead_before),
        cancelled=remove(
            outbox, outbox.c.status == Status.CANCELLED, outbox.c.created_at < dead_before
        ),
        unactivated_accounts=_remove_unactivated(connection, accounts_before),
        throttle_events=remove(throttle_events, throttle_events.c.at < events_before),
        idempotency_keys=remove(idempotency_keys, idempotency_keys.c.created_at < day_ago),
        # SNS retries a notification for an hour at most.
        provider_notifications=remove(
            provider_notifications, provider_notifications.c.received_at < day_ago
        ),
    )
    record(connection, actor, "purge", None, asdict(purged), now)
    return purged


def _remove_unactivated(connection: Connection, created_before: datetime) -> int:
    """Delete accounts never activated, with their messages, so their addresses are free."""
    stale = select(users.c.id).where(
        users.c.status == UserStatus.PENDING, users.c.created_at < created_before
    )
    connection.execute(delete(outbox).where(outbox.c.user_id.in_(stale)))
    return int(connection.execute(delete(users).where(users.c.id.in_(stale))).rowcount)
