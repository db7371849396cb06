"""The tests' PostgreSQL copies (support.databases.Copies): a copy a test gave back with rows
alone comes back to a later test as its template, under a new name no straggler reaches; any
other is dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import create_engine_for
from support.bulk import add_attempts, queue_emails
from support.copy_reset import MOST_ROWS
from support.databases import Copies, admin, libpq_url, url_of

# The copies a give-back may wait behind: those made ahead, and one a take adds.
QUEUED = 4

State = dict[str, object]


@contextmanager
def engine_on(name: str) -> Iterator[Engine]:
    engine = create_engine_for(url_of(name))
    try:
        yield engine
    finally:
        engine.dispose()


def oid(name: str) -> int:
    with admin() as connection:
        row = connection.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,))
        return int(str((row.fetchone() or (0,))[0]))


def existing_oids() -> set[int]:
    with admin() as connection:
        return {int(str(o)) for (o,) in connection.execute("SELECT oid FROM pg_database")}


def state(name: str) -> State:
    """Every table's rows and every sequence's position, as text."""
    with psycopg.connect(libpq_url(url_of(name))) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        sequences = connection.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        return {
            **{
                str(t): sorted(map(str, connection.execute(f'SELECT * FROM "{t}"').fetchall()))
                for (t,) in tables
            },
            **{
                str(s): connection.execute(f'SELECT last_value, is_called FROM "{s}"').fetchone()
                for (s,) in sequences
            },
        }


def after_give_back(copies: Copies, used: str) -> tuple[list[str], int]:
    """Give `used` back and take as many copies as may come before it; those copies (given back
    again) and the oid `used` had."""
    had = oid(used)
    copies.give_back(used)
    taken = [copies.take() for _ in range(QUEUED)]
    for name in taken:
        copies.give_back(name)
    return taken, had


def gone(had: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while had in existing_oids():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.postgresql_only
def test_a_copy_given_back_with_rows_comes_back_as_its_template_under_a_new_name(
    pg_copies: Copies, backend: str
) -> None:
    fresh = pg_copies.take()
    template_state = state(fresh)
    used = pg_copies.take()
    with engine_on(used) as engine:
        [public_id, *_] = queue_emails(engine, 5)
        with engine.begin() as connection:
            add_attempts(connection, public_id, [("transient", 3)], utcnow())
    assert state(used) != template_state
    straggler = psycopg.connect(libpq_url(url_of(used)), autocommit=True)
    pg_copies.give_back(fresh)
    taken, had = after_give_back(pg_copies, used)
    [reset] = [name for name in taken if oid(name) == had]
    assert reset != used and oid(used) == 0
    assert state(reset) == template_state
    with pytest.raises(psycopg.OperationalError):
        straggler.execute("SELECT 1")
    straggler.close()


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    "spoil",
    [
        lambda engine: exec_sql(engine, "ALTER TABLE users ADD COLUMN left_by_a_test integer"),
        lambda engine: exec_sql(engine, "ANALYZE outbox"),
        lambda engine: queue_emails(engine, MOST_ROWS + 1),
    ],
    ids=["a-column", "statistics", "many-rows"],
)
def test_a_copy_given_back_with_more_than_rows_is_dropped(
    pg_copies: Copies, backend: str, spoil: Callable[[Engine], object]
) -> None:
    used = pg_copies.take()
    with engine_on(used) as engine:
        spoil(engine)
    taken, had = after_give_back(pg_copies, used)
    assert had not in {oid(name) for name in taken}
    assert gone(had)


def exec_sql(engine: Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
