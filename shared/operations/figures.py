"""The figures operators watch: the backlog, counts by status and channel, hourly outcomes.

Each says what it counts: messages (rows: sent, dead) or attempts (failed: transient or
permanent; provider down, which never count against a message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, type_coerce

from shared.models import UtcDateTime, outbox, outbox_attempts
from shared.operations.dead_letters import DeadFilter, count_dead
from shared.outbox import CHANNELS, FAILED_ATTEMPTS, AttemptOutcome, Status

# The rows of the status table, present even at zero; any other status follows, by name.
SHOWN_STATUSES = (Status.PENDING, Status.SENT, Status.DEAD, Status.CANCELLED, Status.WITHHELD)


@dataclass(frozen=True)
class Backlog:
    """How much waits: pending rows, those due now, and how long the oldest due one has waited."""

    pending: int
    due: int
    oldest_due_age: float


@dataclass(frozen=True)
class StatusRow:
    """One row of the status table: a status's count on each of `Stats.channels`, and in all."""

    status: str
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class Stats:
    """Counts by status and channel, the oldest due message's age, the last hour's outcomes:
    messages sent and dead, attempts failed and met by a provider that was down."""

    by_status: dict[str, dict[str, int]]
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
        shown = [str(status) for status in SHOWN_STATUSES]
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


def backlog(connection: Connection, now: datetime) -> Backlog:
    """Count the queue, reading only the partial index of pending rows and the due rows."""
    is_due = outbox.c.next_attempt_at <= now
    total, due, oldest = connection.execute(
        select(
            func.count(),
            func.count().filter(is_due),
            type_coerce(func.min(outbox.c.created_at).filter(is_due), UtcDateTime()),
        ).where(outbox.c.status == Status.PENDING)
    ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending=total, due=due, oldest_due_age=max(age, 0.0))


def stats(connection: Connection, now: datetime) -> Stats:
    """Counts by status and channel, the oldest due message's age, the last hour's attempts."""
    counts: dict[str, dict[str, int]] = {}
    for status, channel, number in connection.execute(
        select(outbox.c.status, outbox.c.channel, func.count()).group_by(
            outbox.c.status, outbox.c.channel
        )
    ):
        counts.setdefault(status, {})[channel] = number
    hour_ago = now - timedelta(hours=1)
    sent_last_hour = connection.execute(
        select(func.count()).where(outbox.c.status == Status.SENT, outbox.c.sent_at > hour_ago)
    ).scalar_one()
    outcome = outbox_attempts.c.outcome
    failed, provider_down = connection.execute(
        select(
            func.count().filter(outcome.in_(FAILED_ATTEMPTS)),
            func.count().filter(outcome == AttemptOutcome.PROVIDER_DOWN),
        ).where(outbox_attempts.c.attempted_at > hour_ago)
    ).one()
    return Stats(
        by_status=counts,
        oldest_due_age_seconds=backlog(connection, now).oldest_due_age,
        sent_last_hour=sent_last_hour,
        failed_last_hour=failed,
        dead_unresolved=count_dead(connection, DeadFilter()),
        dead_last_hour=_dead_since(connection, hour_ago),
        provider_down_last_hour=provider_down,
    )


def _dead_since(connection: Connection, since: datetime) -> int:
    """Messages that died after `since`: at their last attempt, which is what killed them, or
    when written if they died untried (suppressed at their first claim)."""
    last_attempt = (
        select(func.max(outbox_attempts.c.attempted_at))
        .where(outbox_attempts.c.outbox_id == outbox.c.id)
        .scalar_subquery()
    )
    died_at = type_coerce(func.coalesce(last_attempt, outbox.c.created_at), UtcDateTime())
    return int(
        connection.execute(
            select(func.count()).where(outbox.c.status == Status.DEAD, died_at > since)
        ).scalar_one()
    )


def hourly_outcomes(connection: Connection, now: datetime) -> list[HourlyOutcome]:
    """Sent, failed and provider-down attempts per hour over the last 24 hours, oldest hour
    first. A failed attempt of a message delivered since is a retry that worked, not a
    failure: it is not counted (the chart's red is what did not arrive)."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    attempted = outbox_attempts.c.attempted_at
    if connection.dialect.name == "postgresql":
        hour_of = func.date_trunc("hour", func.timezone("UTC", attempted))
    else:
        hour_of = func.strftime("%Y-%m-%d %H:00:00", attempted)
    bucket = type_coerce(hour_of, UtcDateTime()).label("hour")
    outcome = outbox_attempts.c.outcome
    counted = {
        hour: (delivered, failed, provider_down)
        for hour, delivered, failed, provider_down in connection.execute(
            select(
                bucket,
                func.count().filter(outcome == AttemptOutcome.SENT),
                func.count().filter(outcome.in_(FAILED_ATTEMPTS), outbox.c.status != Status.SENT),
                func.count().filter(outcome == AttemptOutcome.PROVIDER_DOWN),
            )
            .select_from(outbox_attempts.join(outbox, outbox.c.id == outbox_attempts.c.outbox_id))
            .where(attempted >= start)
            .group_by(bucket)
        )
    }
    hours = [start + timedelta(hours=n) for n in range(24)]
    return [HourlyOutcome(hour, *counted.get(hour, (0, 0, 0))) for hour in hours]
