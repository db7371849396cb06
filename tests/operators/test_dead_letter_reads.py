"""A page of dead letters reads the unresolved dead letters' index (migration 0020), not every
message younger than the page's oldest: flat with the outbox, and as cheap when none is left."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from shared.clock import utcnow
from shared.operations.dead_letters import DeadFilter, list_dead
from support.bulk import add_rows

# More than psycopg runs before it prepares a statement and PostgreSQL before it may choose a
# generic plan, whose parameters cannot match a partial index's predicate.
ROUNDS = 8


def pages_read(engine: Engine) -> tuple[int, int]:
    """The most outbox pages a page of 50 dead letters fetched in ROUNDS reads, and how many
    letters it held."""
    most, shown = 0, 0
    fetched = text("SELECT pg_stat_get_xact_blocks_fetched('outbox'::regclass)")
    for _ in range(ROUNDS):
        with engine.begin() as connection:
            before = connection.execute(fetched).scalar_one()
            letters, _ = list_dead(connection, DeadFilter(), limit=50)
            most = max(most, connection.execute(fetched).scalar_one() - before)
            shown = len(letters)
    return most, shown


# Pages read are PostgreSQL's statistics.
@pytest.mark.postgresql_only
def test_a_page_of_dead_letters_reads_them_not_the_messages_younger_than_them(
    engine: Engine,
) -> None:
    """Walking the outbox back from its newest row, the page read the 20,000 messages sent
    after its dead letters (some 1,300 pages), and all of them once none was left."""
    add_rows(engine, 60, status="dead")
    add_rows(engine, 20_000)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE outbox"))
    read, shown = pages_read(engine)
    assert shown == 50 and read <= 20, read
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE outbox SET resolution = 'discarded', resolved_at = :now"),
            {"now": utcnow()},
        )
    read, shown = pages_read(engine)
    assert shown == 0 and read <= 20, read
