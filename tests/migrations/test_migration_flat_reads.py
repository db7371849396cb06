"""Revision 0019 (when a message died, counted by minute; the lists' indexes) on a populated
database: the dead rows already there take their last attempt's time, or their creation's if
never tried; the last hour's deaths equal a full count before and after the relay kills one
more; the lists still read; the downgrade keeps every row and the figures agree again."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import alembic_config
from shared.messaging.suppressions import listed
from shared.operations import stats, stranded
from support.bulk import add_attempts, queue_one
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer
from support.tallies import agree

# Each dead message at 0018: its attempts' outcomes, minutes ago (none: it died untried).
DEAD = {
    "refused": [("transient", 50), ("permanent", 20)],
    "long_ago": [("permanent", 180)],
    "untried": [],
}


def test_0019_stamps_the_dead_counts_them_by_minute_and_keeps_every_row(
    database_url: str, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0018")
    now = utcnow()
    for name, attempts in DEAD.items():
        public_id = queue_one(engine, f"{name}@example.com")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE outbox SET status = 'dead', dead_reason = 'permanent_error' "
                    "WHERE public_id = :id"
                ),
                {"id": public_id},
            )
            add_attempts(connection, public_id, attempts, now)
    queue_one(engine, "pending@example.com")

    command.upgrade(config, "head")
    stamped = {row["recipient"]: row for row in rows(engine, "outbox") if row["status"] == "dead"}
    assert stamped["refused@example.com"]["dead_at"] == now - timedelta(minutes=20)
    assert stamped["long_ago@example.com"]["dead_at"] == now - timedelta(minutes=180)
    untried = stamped["untried@example.com"]
    assert untried["dead_at"] == untried["created_at"]
    agree(engine, utcnow())
    with engine.connect() as connection:
        assert stats(connection, utcnow()).dead_last_hour == 2
    smtp.sink.script = ["reply:550"]
    assert make_relay().drain() == 1
    agree(engine, utcnow())
    agree(engine, utcnow(), fold=True)
    with engine.connect() as connection:
        assert stats(connection, utcnow()).dead_last_hour == 3
        assert stranded(connection, utcnow()) == []
        assert listed(connection) == []

    command.downgrade(config, "0018")
    assert len(rows(engine, "outbox")) == len(DEAD) + 1
    assert "dead_at" not in {c["name"] for c in sa.inspect(engine).get_columns("outbox")}
    with engine.connect() as connection:
        kinds = connection.execute(sa.text("SELECT DISTINCT kind FROM minute_counts"))
        assert "dead" not in set(kinds.scalars())
    command.upgrade(config, "head")
    agree(engine, utcnow())
