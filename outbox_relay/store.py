"""The relay's writes after a claim: mark or release the claimed rows, fenced by token (the
statements that change their status are shared/messaging/transitions.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Insert,
    Integer,
    String,
    Update,
    any_,
    bindparam,
    case,
    column,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from outbox_relay.claims import Claimed
from outbox_relay.marks import Mark
from shared.database.driver import DriverStatement
from shared.database.models import outbox, outbox_attempts
from shared.messaging import transitions
from shared.messaging.outbox import ERASED, AttemptOutcome, Ending

# Attempts that count towards RELAY_MAX_ATTEMPTS, as the endings say (the others say nothing
# of the message).
COUNTED = frozenset(
    ending.attempt for ending in Ending if ending.counts and ending.attempt is not None
)


# The provider's own id of a sent message, for its later bounce notifications.
_PROVIDER_ID = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.recipient != ERASED)
    .values(provider_message_id=bindparam("provider_id"))
)

# The attempts a write records, built once: a statement built per write costs SQLAlchemy a
# cache key each time.
_ATTEMPTS = insert(outbox_attempts)


def _delivered_statement() -> Insert:
    """Delivered rows marked and their attempts recorded by a single statement, which
    PostgreSQL runs without a transaction of its own: the rows :ids of any of our claims
    :tokens, as MARK_SENT fences them, each with the provider's id (:provider_ids, if any) on a
    row not erased and its attempt (:duration_ms at :attempted_at) only if its mark took.
    Returns the ids of the rows it marked.

    Arrays rather than a list expanded into the SQL: the statement's text is the same for any
    number of rows, so it is compiled once and prepared by the server once.
    """
    delivered = (
        func.unnest(
            bindparam("ids", type_=ARRAY(BigInteger)),
            bindparam("provider_ids", type_=ARRAY(String)),
            bindparam("attempted_at", type_=ARRAY(outbox_attempts.c.attempted_at.type)),
            bindparam("duration_ms", type_=ARRAY(Integer)),
        )
        .table_valued(
            column("id", BigInteger),
            column("provider_id", String),
            column("attempted_at", outbox_attempts.c.attempted_at.type),
            column("duration_ms", Integer),
        )
        .render_derived(name="delivered")
    )
    tokens = bindparam("tokens", type_=ARRAY(String))
    sent = (
        transitions.mark_sent(outbox.c.id == delivered.c.id, outbox.c.claim_token == any_(tokens))
        .values(
            provider_message_id=case(
                (outbox.c.recipient == ERASED, outbox.c.provider_message_id),
                else_=func.coalesce(delivered.c.provider_id, outbox.c.provider_message_id),
            )
        )
        .returning(delivered.c.id, delivered.c.attempted_at, delivered.c.duration_ms)
        .cte("sent")
    )
    attempt = select(
        sent.c.id,
        sent.c.attempted_at,
        literal(AttemptOutcome.SENT.value, String),
        null(),
        sent.c.duration_ms,
    )
    columns = ["outbox_id", "attempted_at", "outcome", "error", "duration_ms"]
    return (
        insert(outbox_attempts).from_select(columns, attempt).returning(outbox_attempts.c.outbox_id)
    )


# A CTE that writes is PostgreSQL's; on SQLite `mark` runs MARK_SENT and records apart.
_DELIVERED = DriverStatement(_delivered_statement())


def mark_delivered(connection: Connection, delivered: list[Mark], now: datetime) -> set[int]:
    """Write delivered rows' outcomes (each `attempt` sent) in one statement, fenced as `mark`
    fences them (PostgreSQL only); the ids of the rows whose lease still held.

    A relay fed one message at a time writes each outcome alone: one round trip on a kept
    connection in place of a pool checkout, BEGIN, two statements and COMMIT; a drain writes
    a batch's in one statement of its transaction.
    """
    held = {
        **_fence(delivered, now),
        "provider_ids": [one.provider_id for one in delivered],
        "attempted_at": [one.attempt.at for one in delivered],
        "duration_ms": [one.attempt.duration_ms for one in delivered],
    }
    return {row["outbox_id"] for row in _DELIVERED.rows(connection, held)}


# Called inside a write's transaction with the marks that ended their row dead, lease held.
OnDead = Callable[[Connection, list[Mark]], None]
# Called inside a write's transaction with the marks that ended their row sent, lease held.
OnSent = Callable[[Connection, list[Mark]], None]
# Called inside a write's transaction with the rows, lease held, whose code falls back.
OnFallback = Callable[[Connection, list[Claimed]], None]


def mark(
    engine: Engine,
    marks: list[Mark],
    now: datetime,
    *,
    on_dead: OnDead | None = None,
    on_sent: OnSent | None = None,
    on_fallback: OnFallback | None = None,
) -> set[int]:
    """Write many outcomes in one transaction; the ids of the rows whose lease still held.

    Fencing: a row changes only while our claim token holds it and its lease runs at `now`,
    so a relay whose lease lapsed changes nothing and records no attempt. Delivered rows are
    marked by a single UPDATE, whatever claims they came from, which is what makes a drain
    cheap. That UPDATE takes a row whose token is any of those claims': all of them this
    relay's, so a row another relay has claimed since is still left alone. A row this relay
    claimed again after its own lease lapsed was sent under the earlier claim, so marking it
    sent is true whichever claim's outcome does it.
    `on_dead` writes what follows a death (the application's event) in the same transaction,
    `on_sent` what follows a delivery (`delivery.sent`), and `on_fallback` the code of a mark
    that falls back on the other channel.
    """
    kept: set[int] = set()
    with engine.begin() as connection:
        for one in marks:
            if one.withheld:
                held = {"ids": [one.row.id], "token": one.row.claim_token, "now": now}
                kept.update(connection.execute(transitions.MARK_WITHHELD, held).scalars())
            elif one.attempt.outcome != AttemptOutcome.SENT:
                kept.update(_mark_failure(connection, one, now))
        delivered = [one for one in marks if one.attempt.outcome == AttemptOutcome.SENT]
        if delivered and connection.dialect.name == "postgresql":
            kept.update(mark_delivered(connection, delivered, now))
        elif delivered:
            kept.update(_mark_sent_apart(connection, delivered, now))
        attempts = [
            _attempt(one)
            for one in marks
            if one.row.id in kept and one.attempt.outcome not in (None, AttemptOutcome.SENT)
        ]
        if attempts:
            connection.execute(_ATTEMPTS, attempts)
        dead = [one for one in marks if one.dead_reason is not None and one.row.id in kept]
        if dead and on_dead is not None:
            on_dead(connection, dead)
        sent = [one for one in delivered if one.row.id in kept]
        if sent and on_sent is not None:
            on_sent(connection, sent)
        falling = [one.row for one in marks if one.fallback and one.row.id in kept]
        if falling and on_fallback is not None:
            on_fallback(connection, falling)
    return kept


def _mark_sent_apart(connection: Connection, delivered: list[Mark], now: datetime) -> set[int]:
    """`mark_delivered` in three statements: the marks, the provider's ids and the attempts."""
    kept = set(connection.execute(transitions.MARK_SENT, _fence(delivered, now)).scalars())
    ids = [
        {"row_id": one.row.id, "provider_id": one.provider_id}
        for one in delivered
        if one.provider_id is not None and one.row.id in kept
    ]
    if ids:
        connection.execute(_PROVIDER_ID, ids)
    attempts = [_attempt(one) for one in delivered if one.row.id in kept]
    if attempts:
        connection.execute(_ATTEMPTS, attempts)
    return kept


def _fence(delivered: list[Mark], now: datetime) -> dict[str, object]:
    """What marks delivered rows as `mark` fences them: their ids, the tokens of the claims
    they came from, and now."""
    return {
        "ids": [one.row.id for one in delivered],
        "tokens": sorted({one.row.claim_token for one in delivered}),
        "now": now,
    }


def _attempt(one: Mark) -> dict[str, object]:
    """The `outbox_attempts` values of one mark's attempt."""
    return {
        "outbox_id": one.row.id,
        "attempted_at": one.attempt.at,
        "outcome": one.attempt.outcome,
        "error": one.attempt.error,
        "duration_ms": one.attempt.duration_ms,
    }


def _mark_failure(connection: Connection, one: Mark, now: datetime) -> list[int]:
    held = {"ids": [one.row.id], "token": one.row.claim_token, "now": now}
    return list(connection.execute(_failed(transitions.HELD, one), held).scalars())


def _failed(fence: Sequence[ColumnElement[bool]], one: Mark) -> Update:
    """What a failed attempt writes to the row `fence` picks."""
    return transitions.mark_failed(
        fence,
        error=one.attempt.error,
        counts=one.attempt.outcome in COUNTED,
        dead_reason=one.dead_reason,
        refusal=one.refusal,
        retry_at=one.retry_at,
    )


# The attempt a recount turns from the provider's failure into the message's.
_LAST_PROVIDER_DOWN = (
    select(func.max(outbox_attempts.c.id))
    .where(
        outbox_attempts.c.outbox_id == bindparam("row_id"),
        outbox_attempts.c.outcome == AttemptOutcome.PROVIDER_DOWN,
    )
    .scalar_subquery()
)


def recount(engine: Engine, one: Mark, *, on_dead: OnDead | None = None) -> bool:
    """Count as the message's try a failure already written as the provider's: its row waits
    its backoff (or dies of max_attempts) and the attempt says `transient`. Only while no
    claim holds the row and nobody counted a try since; whether it changed it."""
    with engine.begin() as connection:
        # Dead, it died at the attempt it recounts.
        seen = {"row_id": one.row.id, "seen": one.row.attempts, "now": one.attempt.at}
        if connection.execute(_failed(transitions.UNHELD, one), seen).first() is None:
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
