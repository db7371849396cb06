"""The figures operators watch: the backlog, counts by status and channel, hourly outcomes.

Each says what it counts: messages (rows: sent, dead) or attempts (failed: transient or
permanent; provider down, which never count against a message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Subquery,
    bindparam,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)

from shared.database.columns import UtcDateTime
from shared.database.models import outbox, outbox_attempts
from shared.messaging.outbox import CHANNELS, FAILED_ATTEMPTS, AttemptOutcome, Status
from shared.operations import tallies
from shared.operations.dead_letters import DEAD_STATUSES

# The rows of the status table, present even at zero; any other status follows, by name.
SHOWN_STATUSES = (Status.PENDING, Status.SENT, Status.DEAD, Status.CANCELLED, Status.WITHHELD)
# The claim priorities (shared.messaging.outbox.priority_of), named so that a count of the due rows
# reads the pending rows' index (priority, due time) as a range of each.
PRIORITIES = (0, 1)
# The most rows of either side of the pending ones (due, or waiting) the backlog reads before
# it counts the due one by one (`backlog`).
COUNTED = 1_000
# Attempts that did not deliver, as the partial index `outbox_attempts_failed` says (written
# out: a bound value would not match the index's predicate in a generic plan).
_UNDELIVERED = literal_column("outbox_attempts.outcome") != literal_column("'sent'")


@dataclass(frozen=True)
class Backlog:
    """How much waits: pending rows, those due now, and how long the oldest due one has waited."""

    pending: int
    due: int
    oldest_due_age: float


@dataclass(frozen=True)
class StatusRow:
    """One row of the status table: a status's count on each of `Stats.channels`, and in all."""

    status: Status
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class Stats:
    """Counts by status and channel, the oldest due message's age, the last hour's outcomes:
    messages sent and dead, attempts failed and met by a provider that was down."""

    by_status: dict[Status, dict[str, int]]
    oldest_due_age_seconds: float
    sent_last_hour: int
    failed_last_hour: int
    dead_unresolved: int
    dead_last_hour: int
    provider_down_last_hour: int

    @property
    def channels(self) -> list[str]:
        """The columns of the status table: the channels clients ask for, and any other seen."""
        seen = {channel for counts in self.by_status.values() for channel in counts}
        return sorted({str(channel) for channel in CHANNELS} | seen)

    @property
    def rows(self) -> list[StatusRow]:
        """The status table: the usual statuses first, then any other, each across `channels`."""
        shown = list(SHOWN_STATUSES)
        channels = self.channels
        return [
            StatusRow(
                status=status,
                counts=tuple(counts.get(channel, 0) for channel in channels),
                total=sum(counts.values()),
            )
            for status in shown + sorted(set(self.by_status) - set(shown))
            for counts in [self.by_status.get(status, {})]
        ]


@dataclass(frozen=True)
class HourlyOutcome:
    """Sent, failed and provider-down attempts in the hour starting at `hour`."""

    hour: datetime
    sent: int
    failed: int
    provider_down: int


def lean(connection: Connection) -> None:
    """No JIT compilation and no parallel workers for the rest of the transaction (PostgreSQL).

    Why: the planner reads the statistics of the whole table, not of the pending rows'
    index: where many pending rows wait for a later retry it guesses tens of thousands due
    where a few are, and buys a JIT compilation and two workers for what reads a few index
    pages (docs/decisions/0022-operator-figures-from-tallies.md)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL jit = off"))
        connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


# The order of the pending rows' index, in which a count of either side stops at its limit:
# unordered, the planner walked the index by age past every row of the other side.
_CLAIMED = (outbox.c.priority, outbox.c.next_attempt_at)
_PENDING = (outbox.c.status == Status.PENDING, outbox.c.priority.in_(PRIORITIES))
# The statements are built once, with the time and the rows read of each side bound.
_NOW, _READ = bindparam("now", type_=UtcDateTime()), bindparam("read", type_=Integer())
_DUE, _WAITING = outbox.c.next_attempt_at <= _NOW, outbox.c.next_attempt_at > _NOW


def _side(condition: ColumnElement[bool], limit: BindParameter[int]) -> Subquery:
    """The pending rows on one side, in the index's order, at most `limit`."""
    return (
        select(outbox.c.created_at)
        .where(*_PENDING, condition)
        .order_by(*_CLAIMED)
        .limit(limit)
        .subquery()
    )


def _counted(created_at: ColumnElement[datetime]) -> Select[int, datetime]:
    """How many rows there are, and the oldest of them by `created_at`."""
    return select(func.count(), type_coerce(func.min(created_at), UtcDateTime()))


_SOME_DUE = _side(_DUE, _READ)
# The due rows and their oldest, the waiting rows (COUNTED + 1 at most of each), and the
# pending rows' tally, in one snapshot.
_PASS = (
    _counted(_SOME_DUE.c.created_at)
    .select_from(_SOME_DUE)
    .add_columns(
        select(func.count()).select_from(_side(_WAITING, _READ)).scalar_subquery(),
        tallies.status_total((Status.PENDING,)),
    )
)
_ALL_DUE = _counted(outbox.c.created_at).where(*_PENDING, _DUE)
_OLDEST_DUE = (
    select(type_coerce(outbox.c.created_at, UtcDateTime()))
    .where(*_PENDING, _DUE)
    .order_by(outbox.c.created_at)
    .limit(1)
)


def backlog(connection: Connection, now: datetime) -> Backlog:
    """Count the queue, exact, reading about COUNTED rows where either side of the pending ones
    (the due, or those waiting for a later attempt) holds fewer.

    Why: counting the due rows one by one cost every scrape of /metrics and every relay's
    report time in proportion to an outage's backlog (relays down, a provider paused: every
    row due), just when the database has least to spare. One statement reads at most COUNTED
    rows of either side, with the pending rows' tally: where the due are more, they are the
    pending less the waiting, and the oldest due is the first met walking the pending rows by
    age (past at most the waiting). Only where both sides are larger are the due rows counted
    one by one: where the sides are even, a pass reading further costs more than that
    (docs/decisions/0023-the-backlog-reads-a-bounded-range.md)."""
    lean(connection)
    due, oldest, waiting, pending = connection.execute(
        _PASS, {"now": now, "read": COUNTED + 1}
    ).one()
    if due > COUNTED and waiting <= COUNTED:
        due = pending - waiting
        oldest = connection.execute(_OLDEST_DUE, {"now": now}).scalar()
    elif due > COUNTED:
        due, oldest = connection.execute(_ALL_DUE, {"now": now}).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending=int(pending), due=int(due), oldest_due_age=max(age, 0.0))


def stats(connection: Connection, now: datetime) -> Stats:
    """Counts by status and channel, the oldest due message's age, the last hour's attempts.

    The counts are the tallies' (shared/operations/tallies.py); the last hour's messages sent
    and dead, and attempts failed or met by a provider down, are the minutes' tallies after the
    minute the hour starts in, and what that minute's index range holds after the hour's start:
    no figure reads more than a minute of rows."""
    lean(connection)
    hour_ago = now - timedelta(hours=1)
    minute = hour_ago.replace(second=0, microsecond=0)
    edge = (hour_ago, minute + timedelta(minutes=1))
    recent = tallies.minute_counts_after(connection, minute)

    def ended(status: Status, column: ColumnElement[datetime | None]) -> int:
        """Messages that entered `status` (as `column` says when) in the edge minute."""
        return int(
            connection.execute(
                select(func.count()).where(
                    outbox.c.status == status, column > edge[0], column < edge[1]
                )
            ).scalar_one()
        )

    outcome, attempted_at = outbox_attempts.c.outcome, outbox_attempts.c.attempted_at
    failed, provider_down = connection.execute(
        select(
            func.count().filter(outcome.in_(FAILED_ATTEMPTS)),
            func.count().filter(outcome == AttemptOutcome.PROVIDER_DOWN),
        ).where(_UNDELIVERED, attempted_at > edge[0], attempted_at < edge[1])
    ).one()
    return Stats(
        by_status=tallies.status_counts(connection),
        oldest_due_age_seconds=backlog(connection, now).oldest_due_age,
        sent_last_hour=recent[Status.SENT] + ended(Status.SENT, outbox.c.sent_at),
        failed_last_hour=sum(recent[kind] for kind in FAILED_ATTEMPTS) + failed,
        dead_unresolved=tallies.count_status(connection, DEAD_STATUSES, resolved=False),
        dead_last_hour=recent[Status.DEAD] + ended(Status.DEAD, outbox.c.dead_at),
        provider_down_last_hour=recent[AttemptOutcome.PROVIDER_DOWN] + provider_down,
    )


def hourly_outcomes(connection: Connection, now: datetime) -> list[HourlyOutcome]:
    """Sent, failed and provider-down attempts per hour over the last 24 hours, oldest hour
    first, from the tallies. A failed attempt of a message delivered since is a retry that
    worked, not a failure: it is not counted (the chart's red is what did not arrive)."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    counted = tallies.hour_counts(connection, start)

    def outcome(hour: datetime) -> HourlyOutcome:
        failed = sum(counted[hour, failure] for failure in FAILED_ATTEMPTS)
        return HourlyOutcome(
            hour,
            sent=counted[hour, AttemptOutcome.SENT],
            failed=failed - counted[hour, tallies.RETRIED],
            provider_down=counted[hour, AttemptOutcome.PROVIDER_DOWN],
        )

    return [outcome(start + timedelta(hours=n)) for n in range(24)]
