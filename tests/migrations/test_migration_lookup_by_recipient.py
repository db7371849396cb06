"""Revision 0022 (an address's messages by id) on a populated database: the lookup lists each
address's rows through the new index, and the downgrade drops it and keeps every row."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from shared import operations
from shared.database.db import alembic_config
from support.bulk import queue_one
from support.rows import indexes, rows

NEW = "outbox_recipient_id"


def test_0022_lists_an_address_s_messages_and_keeps_every_row(
    database_url: str, engine: Engine
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0021")
    assert NEW not in indexes(engine, "outbox")
    ada = [queue_one(engine, "ada@example.com") for _ in range(2)]
    grace = queue_one(engine, "+33612345678", channel="sms")

    command.upgrade(config, "head")
    assert NEW in indexes(engine, "outbox")
    with engine.connect() as connection:
        listed, cursor = operations.messages_to(connection, "ada@example.com")
        assert ([m.id for m in listed], cursor) == (ada[::-1], None)
        [sms] = operations.messages_to(connection, "+33612345678")[0]
    assert (sms.id, sms.channel, sms.status) == (grace, "sms", "pending")

    command.downgrade(config, "0021")
    assert NEW not in indexes(engine, "outbox")
    assert sorted(row["public_id"] for row in rows(engine, "outbox")) == sorted([*ada, grace])
    command.upgrade(config, "head")
