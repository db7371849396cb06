"""The relay's SQL after a claim: mark or release the claimed rows, fenced by token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, func, insert, select, update

from outbox_relay.claims import Claimed
from shared.models import outbox, outbox_attempts
from shared.outbox import ERASED, RELEASED, WIPED, Status


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, as `outbox_attempts` records it."""

    outcome: str
    at: datetime
    duration_ms: int
    error: str | None = None


# Outcomes that say nothing of the message and so do not count towards RELAY_MAX_ATTEMPTS.
UNCOUNTED = frozenset({"expired", "provider_down", "suppressed"})
# Outcomes that were no delivery try, and so are not written as attempts.
NOT_TRIES = frozenset({"suppressed"})


@dataclass(frozen=True)
class Mark:
    """What one attempt did to its row: sent, dead with a reason, or due again at `retry_at`."""

    row: Claimed
    attempt: Attempt
    dead_reason: str | None = None
    retry_at: datetime | None = None
    provider_id: str | None = None


# Fencing: rows :ids are ours only while :token holds them; an outcome also needs the lease
# to run at :now.
_IDS = outbox.c.id.in_(bindparam("ids", expanding=True))
_PENDING = outbox.c.status == Status.PENDING
_LEASE_RUNS = outbox.c.locked_until > bindparam("now")
_OURS = (_IDS, outbox.c.claim_token == bindparam("token"), _PENDING)
_HELD = (*_OURS, _LEASE_RUNS)

# Outcomes are the truth: a message the provider took ends `sent` even if it was cancelled
# while we held it (cancelling keeps the claim, shared/outbox.cancel_messages), and stays
# `bounced` if the provider reported a bounce before we wrote this (provider_events._bounce).
_DELIVERED = (Status.PENDING, Status.CANCELLED, Status.BOUNCED)

# Delivered rows of any of our claims :tokens (see `mark`). An erased row (cancelled, then
# scrubbed) is safe to mark: the statement writes no address, parameter or error, and the
# provider's id, which erasure removes too, is not written to it (_PROVIDER_ID).
_MARK_SENT = (
    update(outbox)
    .where(
        _IDS,
        outbox.c.claim_token.in_(bindparam("tokens", expanding=True)),
        outbox.c.status.in_(_DELIVERED),
        _LEASE_RUNS,
    )
    .values(
        status=case((outbox.c.status == Status.BOUNCED, Status.BOUNCED), else_=Status.SENT),
        sent_at=bindparam("now", type_=outbox.c.sent_at.type),
        attempts=outbox.c.attempts + 1,
        **WIPED,
    )
    .returning(outbox.c.id)
)


# The provider's own id of a sent message, for its later bounce notifications.
_PROVIDER_ID = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.recipient != ERASED)
    .values(provider_message_id=bindparam("provider_id"))
)

_RELEASE = (
    update(outbox)
    .where(*_OURS)
    .values(
        next_attempt_at=bindparam("due", type_=outbox.c.next_attempt_at.type),
        **RELEASED,
    )
)


# Called inside a write's transaction with the marks that ended their row dead, lease held.
OnDead = Callable[[Connection, list[Mark]], None]


def mark(
    engine: Engine, marks: list[Mark], now: datetime, *, on_dead: OnDead | None = None
) -> set[int]:
    """Write many outcomes in one transaction; the ids of the rows whose lease still held.

    Fencing: a row changes only while our claim token holds it and its lease runs at `now`,
    so a relay whose lease lapsed changes nothing and records no attempt. Delivered rows are
    marked by a single UPDATE, whatever claims they came from, which is what makes a drain
    cheap. That UPDATE takes a row whose token is any of those claims': all of them this
    relay's, so a row another relay has claimed since is still left alone. A row this relay
    claimed again after its own lease lapsed was sent under the earlier claim, so marking it
    sent is true whichever claim's outcome does it.
    `on_dead` writes what follows a death (the application's event) in the same transaction.
    """
    kept: set[int] = set()
    with engine.begin() as connection:
        for one in marks:
            if one.attempt.outcome != "sent":
                kept.update(_mark_failure(connection, one, now))
        delivered = [one.row for one in marks if one.attempt.outcome == "sent"]
        if delivered:
            held = {
                "ids": [row.id for row in delivered],
                "tokens": sorted({row.claim_token for row in delivered}),
                "now": now,
            }
            kept.update(connection.execute(_MARK_SENT, held).scalars())
            ids = [
                {"row_id": one.row.id, "provider_id": one.provider_id}
                for one in marks
                if one.provider_id is not None and one.row.id in kept
            ]
            if ids:
                connection.execute(_PROVIDER_ID, ids)
        attempts = [
            {
                "outbox_id": one.row.id,
                "attempted_at": one.attempt.at,
                "outcome": one.attempt.outcome,
                "error": one.attempt.error,
                "duration_ms": one.attempt.duration_ms,
            }
            for one in marks
            if one.row.id in kept and one.attempt.outcome not in NOT_TRIES
        ]
        if attempts:
            connection.execute(insert(outbox_attempts), attempts)
        dead = [one for one in marks if one.dead_reason is not None and one.row.id in kept]
        if dead and on_dead is not None:
            on_dead(connection, dead)
    return kept


def _mark_failure(connection: Connection, one: Mark, now: datetime) -> list[int]:
    held = {"ids": [one.row.id], "token": one.row.claim_token, "now": now}
    return list(
        connection.execute(
            update(outbox).where(*_HELD).values(**_failure_values(one)).returning(outbox.c.id),
            held,
        ).scalars()
    )


def _failure_values(one: Mark) -> dict[str, Any]:
    """What a failed attempt writes to its row."""
    values: dict[str, Any] = {"last_error": one.attempt.error, **RELEASED}
    if one.attempt.outcome not in UNCOUNTED:
        values["attempts"] = outbox.c.attempts + 1
    if one.dead_reason is not None:
        values.update(status=Status.DEAD, dead_reason=one.dead_reason, **WIPED)
    else:
        assert one.retry_at is not None
        values["next_attempt_at"] = one.retry_at
    return values


# A row no claim holds, whose attempts are still those its last claim saw.
_UNHELD = (
    outbox.c.id == bindparam("row_id"),
    outbox.c.claim_token.is_(None),
    _PENDING,
    outbox.c.attempts == bindparam("seen"),
)
# The attempt a recount turns from the provider's failure into the message's.
_LAST_PROVIDER_DOWN = (
    select(func.max(outbox_attempts.c.id))
    .where(
        outbox_attempts.c.outbox_id == bindparam("row_id"),
        outbox_attempts.c.outcome == "provider_down",
    )
    .scalar_subquery()
)


def recount(engine: Engine, one: Mark, *, on_dead: OnDead | None = None) -> bool:
    """Count as the message's try a failure already written as the provider's: its row waits
    its backoff (or dies of max_attempts) and the attempt says `transient`. Only while no
    claim holds the row and nobody counted a try since; whether it changed it."""
    with engine.begin() as connection:
        seen = {"row_id": one.row.id, "seen": one.row.attempts}
        update_row = update(outbox).where(*_UNHELD).values(**_failure_values(one))
        if connection.execute(update_row.returning(outbox.c.id), seen).first() is None:
            return False
        connection.execute(
            update(outbox_attempts)
            .where(outbox_attempts.c.id == _LAST_PROVIDER_DOWN)
            .values(outcome=one.attempt.outcome),
            {"row_id": one.row.id},
        )
        if one.dead_reason is not None and on_dead is not None:
            on_dead(connection, [one])
    return True


def release(
    engine: Engine, rows: list[Claimed], now: datetime, *, due: datetime | None = None
) -> int:
    """Hand rows back untried (shutdown, too little lease left, no provider or no rate slot
    in time), due again at `due` (now by default); returns how many."""
    if not rows:
        return 0
    released = 0
    with engine.begin() as connection:
        for token, ids in _by_claim(rows).items():
            held = {"ids": ids, "token": token, "due": due or now}
            released += connection.execute(_RELEASE, held).rowcount
    return released


def _by_claim(rows: list[Claimed]) -> dict[str, list[int]]:
    """Row ids grouped by the claim that holds them: one fenced statement per claim."""
    grouped: dict[str, list[int]] = {}
    for row in rows:
        grouped.setdefault(row.claim_token, []).append(row.id)
    return grouped
