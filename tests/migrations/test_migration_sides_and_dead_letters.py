"""Revision 0020 (the pending rows by age, the unresolved dead letters by id) on a populated
database: the backlog read through the new index equals a full count, the dead letter is
listed, the pending rows still deliver, and the downgrade keeps every row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from shared import operations
from shared.clock import utcnow
from shared.database.db import alembic_config
from shared.operations import figures
from shared.operations.dead_letters import DeadFilter, list_dead
from support.bulk import queue_one
from support.constants import MakeRelay
from support.rows import indexes, rows
from support.smtp_sink import SinkServer
from support.tallies import full_backlog

NEW = {"outbox_pending_created", "outbox_unresolved"}


def test_0020_reads_the_backlog_by_age_lists_the_dead_and_keeps_every_row(
    database_url: str,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0019")
    assert not NEW & indexes(engine, "outbox")
    for n in range(3):
        queue_one(engine, f"queued{n}@example.com")
    dead = queue_one(engine, "dead@example.com")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE outbox SET status = 'dead', dead_reason = 'max_attempts' "
                "WHERE public_id = :id"
            ),
            {"id": dead},
        )

    command.upgrade(config, "head")
    assert indexes(engine, "outbox") >= NEW
    with engine.connect() as connection:
        letters, _ = list_dead(connection, DeadFilter(), limit=10)
    assert [letter.id for letter in letters] == [dead]
    # One row a side: three due are the pending less the waiting, the oldest found by age.
    monkeypatch.setattr(figures, "COUNTED", 1)
    now = utcnow()
    with engine.connect() as connection:
        assert operations.backlog(connection, now) == full_backlog(connection, now)
        assert operations.backlog(connection, now).due == 3
    assert make_relay().drain() == 3
    assert len(smtp.sink.received) == 3
    with engine.connect() as connection:
        assert operations.backlog(connection, utcnow()) == operations.Backlog(0, 0, 0.0)

    command.downgrade(config, "0019")
    assert not NEW & indexes(engine, "outbox")
    assert sorted(row["status"] for row in rows(engine, "outbox")) == ["dead"] + ["sent"] * 3
    command.upgrade(config, "head")
