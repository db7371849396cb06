"""The outbox's tallies: what the figures add up instead of counting the table.

Why: counting messages by status, or the last day's attempts by hour, reads rows in proportion
to the table or to the traffic; at millions of messages every refresh of the dashboard was a
full scan competing with the relays. Triggers (migration 0018) append a row of signed counts
for every change to `outbox_counts`, `attempt_hours`, `minute_counts` and
`suppression_counts`: a writer only inserts, so no row is hot and no writer waits for another
(a counter row updated in place would serialise the relays, or deadlock two transactions
taking two counters in turn). Reading sums the rows; `fold` replaces them with one a key, so
a sum reads the keys and the changes since the last fold (the relay folds every 5 s). Every
figure stays exact: a sum is the count the rows' changes add up to.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    Table,
    delete,
    func,
    insert,
    select,
    tuple_,
)

from shared.database.models import attempt_hours, minute_counts, outbox_counts, suppression_counts
from shared.messaging.outbox import Status

# Attempts that failed for a message later sent: counted apart, for the chart leaves them out.
RETRIED = "retried"
# The hours `fold` keeps: the chart's day and the hour being counted.
KEPT_HOURS = 25
# The minutes `fold` keeps: the last hour's and the one it starts in.
KEPT_MINUTES = 61
# The rows of messages' changes past which a reader of the backlog folds them (`catch_up`):
# the relays fold every 5 s, so this many mean none has for a while (at 100 sign-ups a second,
# close to a minute), and every figure would sum them.
BEHIND = 5_000


def status_counts(connection: Connection) -> dict[Status, dict[str, int]]:
    """Messages by status, then channel (none at zero), in that order, so that the
    commands' JSON prints the same way each time."""
    counts: dict[Status, dict[str, int]] = {}
    total = func.sum(outbox_counts.c.n)
    for status, channel, number in connection.execute(
        select(outbox_counts.c.status, outbox_counts.c.channel, total)
        .group_by(outbox_counts.c.status, outbox_counts.c.channel)
        .having(total != 0)
        .order_by(outbox_counts.c.status, outbox_counts.c.channel)
    ):
        counts.setdefault(status, {})[channel] = int(number)
    return counts


def status_total(statuses: tuple[str, ...], *, resolved: bool | None = None) -> ScalarSelect[int]:
    """Messages in any of `statuses`, resolved or not as `resolved` says, or either (None): a
    value for a statement that reads the rows in the same snapshot."""
    where = [outbox_counts.c.status.in_(statuses)]
    if resolved is not None:
        where.append(outbox_counts.c.resolved.is_(resolved))
    return select(func.coalesce(func.sum(outbox_counts.c.n), 0)).where(*where).scalar_subquery()


def count_status(
    connection: Connection, statuses: tuple[str, ...], *, resolved: bool | None = None
) -> int:
    """Messages in any of `statuses`: resolved or not as `resolved` says, or either (None)."""
    total = status_total(statuses, resolved=resolved)
    return int(connection.execute(select(total)).scalar_one())


def hour_counts(connection: Connection, start: datetime) -> Counter[tuple[datetime, str]]:
    """Attempts by (hour, outcome) from the hour `start` on, and RETRIED."""
    total = func.sum(attempt_hours.c.n)
    return Counter(
        {
            (hour, outcome): int(number)
            for hour, outcome, number in connection.execute(
                select(attempt_hours.c.hour, attempt_hours.c.outcome, total)
                .where(attempt_hours.c.hour >= start)
                .group_by(attempt_hours.c.hour, attempt_hours.c.outcome)
            )
        }
    )


def minute_counts_after(connection: Connection, minute: datetime) -> Counter[str]:
    """Messages sent and attempts that did not deliver, by kind, in the minutes after
    `minute` (a whole minute)."""
    total = func.sum(minute_counts.c.n)
    return Counter(
        {
            kind: int(number)
            for kind, number in connection.execute(
                select(minute_counts.c.kind, total)
                .where(minute_counts.c.minute > minute)
                .group_by(minute_counts.c.kind)
            )
        }
    )


def fold(connection: Connection, now: datetime) -> None:
    """Sum the tallies' rows into one a key, and drop the hours and minutes past KEPT_HOURS
    and KEPT_MINUTES, in the caller's transaction.

    Only keys with more than one row are rewritten: a fold costs the changes since the last,
    not every key again (at a few hundred keys, rewriting them all every 5 s left the tables
    mostly dead rows for autovacuum). It deletes the rows it sums in one statement, so rows a
    writer has not yet committed stay as they are, and two folds at once wait for each other,
    never count twice."""
    _fold(connection, outbox_counts, ("status", "channel", "resolved"))
    _fold(connection, suppression_counts, ())
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=KEPT_HOURS - 1)
    _fold(connection, attempt_hours, ("hour", "outcome"), attempt_hours.c.hour < start)
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=KEPT_MINUTES)
    _fold(connection, minute_counts, ("minute", "kind"), minute_counts.c.minute < since)


def catch_up(connection: Connection, now: datetime) -> None:
    """Fold the tallies if no relay has lately (BEHIND rows of messages' changes or more), in
    the caller's transaction.

    Why: while every relay is stopped, sign-ups still add their rows, and the figures that
    the API's /metrics exports so that such an outage shows would sum more of them at every
    scrape; reading at most BEHIND rows, a scrape folds them instead."""
    rows = select(outbox_counts.c.n).limit(BEHIND).subquery()
    if connection.execute(select(func.count()).select_from(rows)).scalar_one() >= BEHIND:
        fold(connection, now)


def _fold(
    connection: Connection,
    table: Table,
    keys: tuple[str, ...],
    stale: ColumnElement[bool] | None = None,
) -> None:
    """Delete `table`'s `stale` rows, and sum the rows of each key (`keys`) that has more
    than one into one."""
    if stale is not None:
        connection.execute(delete(table).where(stale))
    columns = [table.c[name] for name in keys]
    several: ColumnElement[bool]
    if columns:
        keyed = select(*columns).group_by(*columns).having(func.count() > 1)
        several = tuple_(*columns).in_(keyed)
    else:
        several = select(func.count()).select_from(table).scalar_subquery() > 1
    summed: Counter[tuple[Any, ...]] = Counter()
    for *key, number in connection.execute(
        delete(table).where(several).returning(*columns, table.c.n)
    ):
        summed[tuple(key)] += number
    rows = [
        {**dict(zip(keys, key, strict=True)), "n": number}
        for key, number in summed.items()
        if number
    ]
    if rows:
        connection.execute(insert(table), rows)
