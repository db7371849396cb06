"""The relay's SQL: claim due rows under a lease, then mark or release them, fenced by token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from shared.models import outbox, outbox_attempts


@dataclass(frozen=True)
class Claimed:
    """A row this relay holds until `locked_until`, under `claim_token`."""

    id: int
    public_id: str
    channel: str
    purpose: str
    recipient: str
    locale: str
    template: str
    params: dict[str, Any]
    secret_params: str | None
    attempts: int
    expires_at: datetime | None
    locked_until: datetime
    claim_token: str


_CLAIMED_COLUMNS = list(Claimed.__dataclass_fields__)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, as `outbox_attempts` records it."""

    outcome: str
    at: datetime
    duration_ms: int
    error: str | None = None


def claim(engine: Engine, *, now: datetime, limit: int, lease_seconds: int) -> list[Claimed]:
    """Lease up to `limit` due rows to a new claim token; other relays skip them meanwhile.

    A claimed row's `next_attempt_at` moves to the end of its lease, so the one due-rows
    index serves both "never tried" and "lease lapsed": a crashed relay's rows come back
    by themselves.
    """
    token = uuid.uuid4().hex
    locked_until = now + timedelta(seconds=lease_seconds)
    due = (
        select(outbox.c.id)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(locked_until=locked_until, next_attempt_at=locked_until, claim_token=token)
        .returning(*(outbox.c[name] for name in _CLAIMED_COLUMNS))
    )
    with engine.begin() as connection:
        rows = connection.execute(statement).all()
    return sorted((Claimed(**row._mapping) for row in rows), key=lambda claimed: claimed.id)


def mark_sent(engine: Engine, row: Claimed, attempt: Attempt) -> bool:
    """Record a delivery; False if the lease was lost, and then nothing changed."""
    return _finish(
        engine,
        row,
        attempt,
        status="sent",
        sent_at=attempt.at,
        attempts=outbox.c.attempts + 1,
        secret_params=None,
    )


def mark_dead(engine: Engine, row: Claimed, attempt: Attempt, reason: str) -> bool:
    """Give up on a row for good, keeping why; its secrets are wiped."""
    tried = attempt.outcome != "expired"
    return _finish(
        engine,
        row,
        attempt,
        status="dead",
        dead_reason=reason,
        last_error=attempt.error,
        attempts=outbox.c.attempts + 1 if tried else outbox.c.attempts,
        secret_params=None,
    )


def mark_retry(engine: Engine, row: Claimed, attempt: Attempt, retry_at: datetime) -> bool:
    """Put a row back in the queue after a transient failure, due at `retry_at`."""
    return _finish(
        engine,
        row,
        attempt,
        next_attempt_at=retry_at,
        last_error=attempt.error,
        attempts=outbox.c.attempts + 1,
    )


def release(engine: Engine, rows: list[Claimed], now: datetime) -> int:
    """Hand rows back untried (shutdown, or too little lease left); returns how many."""
    released = 0
    with engine.begin() as connection:
        for row in rows:
            result = connection.execute(
                update(outbox)
                .where(
                    outbox.c.id == row.id,
                    outbox.c.claim_token == row.claim_token,
                    outbox.c.status == "pending",
                )
                .values(next_attempt_at=now, locked_until=None, claim_token=None)
            )
            released += result.rowcount
    return released


def _finish(engine: Engine, row: Claimed, attempt: Attempt, **values: Any) -> bool:
    with engine.begin() as connection:
        result = connection.execute(
            update(outbox)
            .where(*_still_held(row, attempt.at))
            .values(locked_until=None, claim_token=None, **values)
        )
        if result.rowcount != 1:
            return False
        connection.execute(
            insert(outbox_attempts).values(
                outbox_id=row.id,
                attempted_at=attempt.at,
                outcome=attempt.outcome,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
        )
    return True


def _still_held(row: Claimed, now: datetime) -> list[ColumnElement[bool]]:
    """Fencing: the row is still ours only while our token holds it and the lease runs."""
    return [
        outbox.c.id == row.id,
        outbox.c.claim_token == row.claim_token,
        outbox.c.status == "pending",
        outbox.c.locked_until > now,
    ]
