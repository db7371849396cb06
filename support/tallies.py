"""The tallies' figures against a full count of the tables (migrations 0018 and 0019): what
the tests of the tallies assert after each change."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, type_coerce

from shared.database.columns import UtcDateTime
from shared.database.models import outbox, outbox_attempts, suppressions
from shared.messaging.suppressions import count as suppressions_count
from shared.operations import Backlog, backlog, count_dead, hourly_outcomes, stats, tallies
from shared.operations.dead_letters import DeadFilter

FAILED = ("transient", "permanent")


def _hour(connection: Connection, column: object) -> object:
    if connection.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def full_counts(
    connection: Connection,
) -> tuple[dict[str, dict[str, int]], int, Counter[tuple[datetime, str]]]:
    """What the tallies stand for, counted from the tables: messages by status and channel,
    unresolved dead letters, attempts by hour and outcome and the failed ones of messages
    sent."""
    by_status: dict[str, dict[str, int]] = {}
    for status, channel, n in connection.execute(
        select(outbox.c.status, outbox.c.channel, func.count()).group_by(
            outbox.c.status, outbox.c.channel
        )
    ):
        by_status.setdefault(status, {})[channel] = n
    unresolved = connection.execute(
        select(func.count()).where(*DeadFilter().conditions())
    ).scalar_one()
    hour = type_coerce(_hour(connection, outbox_attempts.c.attempted_at), UtcDateTime())
    outcome = outbox_attempts.c.outcome
    joined = outbox_attempts.join(outbox, outbox.c.id == outbox_attempts.c.outbox_id)
    hours: Counter[tuple[datetime, str]] = Counter()
    for at, kind, n in connection.execute(
        select(hour, outcome, func.count()).group_by(hour, outcome)
    ):
        hours[at, kind] = n
    for at, n in connection.execute(
        select(hour, func.count())
        .select_from(joined)
        .where(outcome.in_(FAILED), outbox.c.status == "sent")
        .group_by(hour)
    ):
        hours[at, tallies.RETRIED] = n
    return by_status, unresolved, hours


def full_backlog(connection: Connection, now: datetime) -> Backlog:
    """The backlog counted from every pending row."""
    pending = outbox.c.status == "pending"
    due = outbox.c.next_attempt_at <= now
    total = connection.execute(select(func.count()).where(pending)).scalar_one()
    number, oldest = connection.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(pending, due)
    ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending=total, due=number, oldest_due_age=age)


def agree(engine: Engine, now: datetime, *, fold: bool = False) -> None:
    """The figures read from the tallies equal the full count, before and after a fold."""
    with engine.begin() as connection:
        if fold:
            tallies.fold(connection, now)
    with engine.connect() as connection:
        by_status, unresolved, hours = full_counts(connection)
        figures = stats(connection, now)
        assert figures.by_status == by_status
        assert figures.dead_unresolved == unresolved == count_dead(connection, DeadFilter())
        counted = full_backlog(connection, now)
        assert backlog(connection, now) == counted
        assert counted.pending == sum(by_status.get("pending", {}).values())
        assert _last_hour(connection, now) == (
            figures.sent_last_hour,
            figures.dead_last_hour,
            figures.failed_last_hour,
            figures.provider_down_last_hour,
        )
        listed = connection.execute(select(func.count()).select_from(suppressions)).scalar()
        assert suppressions_count(connection) == listed
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
        kept = tallies.hour_counts(connection, start)
        assert +kept == +Counter({key: n for key, n in hours.items() if key[0] >= start})
        for bucket in hourly_outcomes(connection, now):
            failed = sum(hours[bucket.hour, kind] for kind in FAILED)
            assert bucket.failed == failed - hours[bucket.hour, tallies.RETRIED]
            assert bucket.sent == hours[bucket.hour, "sent"]


def _last_hour(connection: Connection, now: datetime) -> tuple[int, int, int, int]:
    """Messages sent and dead, attempts failed and met by a provider down in the hour before
    `now`, counted from the tables."""
    hour_ago = now - timedelta(hours=1)
    sent, dead = (
        connection.execute(
            select(func.count()).where(outbox.c.status == status, column > hour_ago)
        ).scalar_one()
        for status, column in (("sent", outbox.c.sent_at), ("dead", outbox.c.dead_at))
    )
    outcome = outbox_attempts.c.outcome
    failed, down = connection.execute(
        select(
            func.count().filter(outcome.in_(FAILED)),
            func.count().filter(outcome == "provider_down"),
        ).where(outbox_attempts.c.attempted_at > hour_ago)
    ).one()
    return sent, dead, failed, down
