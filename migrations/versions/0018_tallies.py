"""Tallies of the outbox that the figures operators read add up instead of counting the table.

`outbox_counts` holds messages by (status, channel, resolved); `suppression_counts` the
suppressed addresses; `attempt_hours` attempts by (hour, outcome), and `retried`: the failed
attempts of messages since sent, which the chart leaves out; `minute_counts` the last hour's
messages sent (`sent`, by `sent_at`) and attempts that did not deliver (by outcome), a minute
at a time. Triggers on `outbox`, `outbox_attempts` and `suppressions` append a row of signed
counts for every change (a statement's rows in one, for inserts and deletes on PostgreSQL):
writers only insert, so no row is hot and no writer waits for another's. Readers sum;
shared/operations/tallies.py folds the rows into one a key now and then. A failed attempt's
`retried` follows its message into and out of `sent`, and out of the table: the delete trigger
reads the attempts before the cascade removes them (of messages sent within the hours kept:
older ones have none in them, and retention deletes none younger than a day).

The tables are seeded from the rows present, writes held meanwhile (a few seconds at 10M
rows). `outbox_attempts_failed` indexes the attempts that did not deliver, which the last
hour's figures read (their outcome and message in the index, PostgreSQL reads no row);
`outbox_cancelled` the cancelled messages by age, which retention deletes a batch at a time;
`suppressions_event` the suppressions by provider event, which deleting an event looks up
(without it, retention scanned the suppressions for every receipt it deleted).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations import tallies

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _indexes() -> None:
    op.create_index(
        "outbox_attempts_failed",
        "outbox_attempts",
        ["attempted_at"],
        postgresql_include=["outcome", "outbox_id"],
        postgresql_where=sa.text("outcome <> 'sent'"),
        sqlite_where=sa.text("outcome <> 'sent'"),
    )
    op.create_index(
        "outbox_cancelled",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'cancelled'"),
        sqlite_where=sa.text("status = 'cancelled'"),
    )
    op.create_index("suppressions_event", "suppressions", ["event_id"])
    # The figures read the hours and minutes they show, whatever rows a fold left dead.
    op.create_index("attempt_hours_hour", "attempt_hours", ["hour"])
    op.create_index("minute_counts_minute", "minute_counts", ["minute"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    keys = {
        "outbox_counts": [
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("channel", sa.String(10), nullable=False),
            sa.Column("resolved", sa.Boolean, nullable=False),
        ],
        "attempt_hours": [
            sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
            sa.Column("outcome", sa.String(20), nullable=False),
        ],
        "minute_counts": [
            sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
            sa.Column("kind", sa.String(20), nullable=False),
        ],
        "suppression_counts": [],
    }
    for table, columns in keys.items():
        op.create_table(
            table,
            sa.Column("id", identity, primary_key=True),
            *columns,
            sa.Column("n", sa.BigInteger, nullable=False),
        )
    _indexes()
    if dialect == "postgresql":
        op.execute("LOCK TABLE outbox, outbox_attempts, suppressions IN SHARE MODE")
    made = tallies.create_triggers(dialect, tallies.SENT)
    for statement in [*tallies.seed(dialect, tallies.SENT), *made]:
        op.execute(statement)


def downgrade() -> None:
    for statement in tallies.drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_index("minute_counts_minute", "minute_counts")
    op.drop_index("attempt_hours_hour", "attempt_hours")
    op.drop_index("suppressions_event", "suppressions")
    op.drop_index("outbox_cancelled", "outbox")
    op.drop_index("outbox_attempts_failed", "outbox_attempts")
    for table in ("suppression_counts", "minute_counts", "attempt_hours", "outbox_counts"):
        op.drop_table(table)
