"""Revision 0018 (the outbox's tallies) on a populated database: the tallies it seeds equal a
full count of the rows already there (messages, attempts, a suppression), the triggers keep
them so as the relay delivers, and the downgrade drops the tallies and keeps every row."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import alembic_config
from support.bulk import add_attempts, queue_emails, queue_one
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer
from support.tallies import agree

# Each message's state at 0017 (status, resolution) and its attempts' outcomes, minutes ago.
CASES = {
    "sent": ("sent", None, [("transient", 90), ("sent", 30)]),
    "dead": ("dead", None, [("permanent", 20)]),
    "discarded": ("dead", "discarded", [("transient", 200), ("transient", 100)]),
    "bounced": ("bounced", None, [("sent", 5)]),
    "cancelled": ("cancelled", None, []),
}


def queue_cases(engine: Engine, now: datetime) -> None:
    """A message in each of CASES' states, with its attempts, in SQL every revision takes."""
    for name, (status, resolution, attempts) in CASES.items():
        public_id = queue_one(engine, f"{name}@example.com")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE outbox SET status = :status, resolution = :resolution, "
                    "sent_at = :now WHERE public_id = :id"
                ),
                {"status": status, "resolution": resolution, "now": now, "id": public_id},
            )
            add_attempts(connection, public_id, attempts, now)


def test_0018_seeds_the_tallies_from_the_rows_and_keeps_them_as_the_relay_delivers(
    database_url: str, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0017")
    now = utcnow()
    queue_cases(engine, now)
    queue_one(engine, "pending@example.com")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO suppressions (address, address_hash, reason, source, created_at) "
                "VALUES ('bounced@example.com', :hash, 'hard_bounce', 'ses', :now)"
            ),
            {"hash": "0" * 64, "now": now},
        )

    command.upgrade(config, "head")
    agree(engine, utcnow())
    assert make_relay().drain() == 1
    agree(engine, utcnow())
    agree(engine, utcnow(), fold=True)

    command.downgrade(config, "0017")
    assert len(rows(engine, "outbox")) == len(CASES) + 1
    assert not sa.inspect(engine).has_table("outbox_counts")
    command.upgrade(config, "head")
    agree(engine, utcnow())


def test_0025_counts_the_outbox_by_statement_as_the_row_triggers_did(
    database_url: str, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """Revision 0025 on a populated database: messages sent after a retry, dead and pending at
    0024 keep their figures; the statement trigger counts a drain of many (one refused for
    now, tried again) as the row trigger did, and the downgrade keeps them. (Only the head's
    relay drains: it reads tables and columns 0024 has not.)"""
    config = alembic_config(database_url)
    command.downgrade(config, "0024")
    queue_cases(engine, utcnow())
    queue_emails(engine, 20, prefix="before")
    relay = make_relay(relay_backoff_base=0.0, relay_backoff_cap=0.0)
    agree(engine, utcnow())
    command.upgrade(config, "head")
    agree(engine, utcnow())
    smtp.sink.script = ["reply:451"]
    assert relay.drain() >= 20
    agree(engine, utcnow())
    queue_emails(engine, 20, prefix="after")
    command.downgrade(config, "0024")
    agree(engine, utcnow(), fold=True)
