"""Retention deletes in batches, each its own transaction, and passes over a row another
transaction holds instead of waiting for it: a purge never holds up a registration or a claim."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text, update

from shared.clock import utcnow
from shared.database.models import operator_actions, outbox
from shared.operations import purge, tallies
from shared.settings.config import Settings
from support.bulk import queue_emails
from support.tallies import agree


def _sent_long_ago(engine: Engine, count: int, prefix: str, days: int = 8) -> list[str]:
    """`count` messages sent `days` days ago: their public ids."""
    ids = queue_emails(engine, count, prefix=prefix)
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id.in_(ids))
            .values(status="sent", sent_at=utcnow() - timedelta(days=days))
        )
    return ids


def test_a_purge_deletes_in_batches_up_to_the_last_row(engine: Engine, settings: Settings) -> None:
    _sent_long_ago(engine, 7, "old")
    [young] = queue_emails(engine, 1, prefix="young")
    with engine.connect() as connection:
        purged = purge(connection, settings, actor="test", now=utcnow(), batch=2)
    assert purged.sent == 7
    with engine.connect() as connection:
        assert list(connection.execute(select(outbox.c.public_id)).scalars()) == [young]
        assert connection.execute(select(func.count()).select_from(operator_actions)).scalar()
    agree(engine, utcnow())


# SQLite has one writer at a time: there is no row lock to pass over.
@pytest.mark.postgresql_only
def test_a_purge_passes_over_a_row_another_transaction_holds(
    engine: Engine, settings: Settings
) -> None:
    held, *others = _sent_long_ago(engine, 5, "old")
    with engine.connect() as holder, engine.connect() as connection:
        holder.execute(select(outbox.c.id).where(outbox.c.public_id == held).with_for_update())
        # Waiting for the held row would fail at once instead of hanging the test.
        connection.execute(text("SET lock_timeout = '100ms'"))
        connection.commit()
        purged = purge(connection, settings, actor="test", now=utcnow(), batch=2)
        holder.rollback()
    assert purged.sent == len(others)
    with engine.begin() as connection:
        assert list(connection.execute(select(outbox.c.public_id)).scalars()) == [held]
        tallies.fold(connection, utcnow())
    agree(engine, utcnow())


def test_a_purge_rests_after_each_full_batch_and_stops_when_told(
    engine: Engine, settings: Settings
) -> None:
    _sent_long_ago(engine, 7, "old")
    rests: list[float] = []

    def rest(seconds: float) -> bool:
        rests.append(seconds)
        return len(rests) < 2

    with engine.connect() as connection:
        purged = purge(connection, settings, actor="test", now=utcnow(), batch=2, rest=rest)
    # Two full batches, a rest after each (four times as long as the batch), then a stop: the
    # rows it deleted stay deleted and nothing else is purged.
    assert purged.sent == 4
    assert len(rests) == 2 and all(seconds > 0 for seconds in rests)
    assert (purged.dead, purged.throttle_events, purged.idempotency_keys) == (0, 0, 0)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(outbox)).scalar() == 3
    agree(engine, utcnow())
    with engine.connect() as connection:
        rest_on = purge(
            connection, settings, actor="test", now=utcnow(), batch=2, rest=lambda _: True
        )
    assert rest_on.sent == 3


def test_a_purge_deletes_the_oldest_first_whatever_the_order_rows_were_written_in(
    engine: Engine, settings: Settings
) -> None:
    """Newer rows written first, where a scan of the table starts, and the table analyzed: a
    purge stopped after one batch has deleted the oldest rows, as it does when it reads the
    index by age. (Unordered, PostgreSQL's planner scanned the table for a small batch.)"""
    newer = _sent_long_ago(engine, 60, "newer", days=8)
    _sent_long_ago(engine, 10, "oldest", days=11)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE outbox"))
    with engine.connect() as connection:
        purged = purge(
            connection, settings, actor="test", now=utcnow(), batch=10, rest=lambda _: False
        )
    assert purged.sent == 10
    with engine.connect() as connection:
        left = set(connection.execute(select(outbox.c.public_id)).scalars())
    assert left == set(newer)
    agree(engine, utcnow())


# Buffers read are PostgreSQL's statistics.
@pytest.mark.postgresql_only
def test_each_batch_reads_the_index_by_age_from_where_the_last_ended(
    engine: Engine, settings: Settings
) -> None:
    """Deleted rows stay in the index by age until vacuum: a batch reading it from the oldest
    end walks over every row the batches before deleted, and a day's purge at 10 million
    messages slowed batch by batch. The last batch reads as many of its pages as the first."""
    _sent_long_ago(engine, 2_000, "old")
    with engine.begin() as connection:
        # A time of its own each, as the relays' marks give them (not one for all).
        connection.execute(
            update(outbox).values(sent_at=outbox.c.sent_at + outbox.c.id * timedelta(seconds=1))
        )
    pages: list[int] = []

    def fetched(cursor: Any) -> int:
        """The index's pages this backend fetched and has not yet reported (reports happen
        between transactions only)."""
        with cursor.connection.cursor() as counting:
            counting.execute("SELECT pg_stat_get_xact_blocks_fetched('outbox_sent_at'::regclass)")
            return int(counting.fetchone()[0])

    def before(_: Any, cursor: Any, statement: str, *__: Any) -> None:
        if "ORDER BY outbox.sent_at" in statement:
            pages.append(-fetched(cursor))

    def after(_: Any, cursor: Any, statement: str, *__: Any) -> None:
        if "ORDER BY outbox.sent_at" in statement:
            pages[-1] += fetched(cursor)

    with engine.connect() as connection:
        event.listen(connection, "before_cursor_execute", before)
        event.listen(connection, "after_cursor_execute", after)
        purged = purge(connection, settings, actor="test", now=utcnow(), batch=10)
    # 200 full batches, an empty one, and one of messages withheld.
    assert purged.sent == 2_000 and len(pages) == 202
    # A batch may end on the next leaf page.
    assert max(pages[:200]) <= pages[0] + 1, pages
    agree(engine, utcnow())
