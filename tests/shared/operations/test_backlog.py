"""The backlog's figures (pending, due, the oldest due message's age) equal a full count of the
pending rows whichever side is larger, and read as many rows as the smaller side."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from shared import operations
from shared.clock import utcnow
from shared.operations import figures
from support.bulk import add_rows
from support.tallies import full_backlog


def queue(engine: Engine, due: int, waiting: int, now: datetime) -> None:
    """`due` messages due since a minute, created an hour ago, and `waiting` ones due in an
    hour, created two hours ago (a walk from the oldest pending row meets them first), one of
    either kind older than the rest; and sent ones, which no figure counts."""
    hour = timedelta(hours=1)
    add_rows(engine, due, status="pending", created_at=now - hour, next_attempt_at=now)
    add_rows(
        engine, waiting, status="pending", created_at=now - 2 * hour, next_attempt_at=now + hour
    )
    add_rows(engine, 50)
    with engine.begin() as connection:
        for early, late in ((now - 3 * hour, now), (now - 4 * hour, now + hour)):
            connection.execute(
                text(
                    "UPDATE outbox SET created_at = :early WHERE id = (SELECT min(id) FROM outbox "
                    "WHERE status = 'pending' AND next_attempt_at = :late)"
                ),
                {"early": early, "late": late},
            )


@pytest.mark.parametrize(
    ("due", "waiting"),
    [(0, 0), (2, 0), (0, 2), (1, 1), (7, 1), (1, 7), (7, 7), (3, 300)],
)
def test_the_backlog_equals_a_full_count_whichever_side_is_larger(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, due: int, waiting: int
) -> None:
    """Past 2 rows a side: 7 due and 1 waiting (the pending less the waiting), 1 due and 7 or
    300 waiting, 7 of each (the due one by one)."""
    monkeypatch.setattr(figures, "COUNTED", 2)
    now = utcnow()
    queue(engine, due, waiting, now + timedelta(minutes=1))
    later = now + timedelta(minutes=2)
    with engine.connect() as connection:
        expected = full_backlog(connection, later)
        assert (expected.pending, expected.due) == (due + waiting, due)
        assert operations.backlog(connection, later) == expected


# Pages read are PostgreSQL's statistics.
@pytest.mark.postgresql_only
@pytest.mark.parametrize(("due", "waiting"), [(5_000, 10), (10, 5_000)])
def test_the_backlog_reads_as_many_rows_as_its_smaller_side(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, due: int, waiting: int
) -> None:
    """An outage's backlog (every row due) and a retry storm's (every row waiting) each cost a
    few of the outbox's pages, where counting the due rows one by one read every page."""
    monkeypatch.setattr(figures, "COUNTED", 20)
    now = utcnow()
    queue(engine, due, waiting, now)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE outbox"))
    with engine.begin() as connection:
        fetched = "SELECT pg_stat_get_xact_blocks_fetched('outbox'::regclass)"
        before = connection.execute(text(fetched)).scalar_one()
        backlog = operations.backlog(connection, now + timedelta(minutes=1))
        read = connection.execute(text(fetched)).scalar_one() - before
        assert backlog == full_backlog(connection, now + timedelta(minutes=1))
    assert read <= 20, read
