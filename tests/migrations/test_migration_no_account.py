"""Revision 0013 admits the `no_account` purpose in a populated database: its rows, attempts,
indexes and dead letters survive the upgrade and the downgrade back, which drops the notices
(on SQLite, a rebuilt table would have taken every attempt with it, by their cascade)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from shared.database.db import alembic_config
from shared.database.models import outbox, outbox_attempts
from support.bulk import queue_one
from support.constants import MakeRelay
from support.rows import indexes, rows
from support.smtp_sink import SinkServer


def test_0013_admits_no_account_notices_and_the_downgrade_drops_them(
    database_url: str, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    before = indexes(engine, "outbox")
    command.downgrade(config, "0012")
    with pytest.raises(sa.exc.IntegrityError):
        queue_one(engine, "early@example.com", purpose="no_account")
    welcome = queue_one(engine, "ada@example.com", purpose="welcome")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE outbox SET status = 'dead', dead_reason = 'expired'"))
        connection.execute(
            sa.insert(outbox_attempts).from_select(
                ["outbox_id", "attempted_at", "outcome", "error", "duration_ms"],
                sa.select(
                    outbox.c.id,
                    outbox.c.created_at,
                    sa.literal("transient"),
                    sa.literal("SMTP 451"),
                    sa.literal(12),
                ),
            )
        )
    command.upgrade(config, "head")
    assert [a["error"] for a in rows(engine, "outbox_attempts")] == ["SMTP 451"]

    assert indexes(engine, "outbox") == before
    notice = queue_one(engine, "nobody@example.com", purpose="no_account")
    # With the API's public URL, for the notice's unsubscribe link (none: it is withheld).
    assert make_relay(public_url="https://api.outpost.test").drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert str(mail["To"]) == "nobody@example.com"
    with engine.connect() as connection:
        dead = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters")).scalars()
        assert list(dead) == [welcome]

    command.downgrade(config, "0012")
    assert [r["public_id"] for r in rows(engine, "outbox")] == [welcome]
    assert [a["error"] for a in rows(engine, "outbox_attempts")] == ["SMTP 451"]
    assert notice not in {r["public_id"] for r in rows(engine, "outbox")}
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM outbox_dead_letters"))
        assert count.scalar_one() == 1
    command.upgrade(config, "head")
