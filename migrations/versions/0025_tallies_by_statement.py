"""The tallies count an update of many outbox rows once, not once a row (PostgreSQL).

Until now the outbox's update trigger ran for each row whose status, channel or resolution
changed, seven statements each: marking half a relay's batch sent (50 rows) ran 350 of them. It
now runs once a statement over the statement's transition tables, whatever rows it changed,
and counts the same (migrations/tallies.py; docs/decisions/0035-tallies-by-statement.md).
PostgreSQL gives transition tables to no trigger limited to some columns, so it fires for
every update of the outbox and finds the rows that changed itself. SQLite keeps its row
triggers, which have no other kind.

Only triggers change, in one short transaction; no row is read or written. The downgrade
puts back the row trigger.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from migrations import tallies

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The messages the tallies count by minute, as of revision 0019.
MINUTES = {**tallies.SENT, "dead": "dead_at"}


def upgrade() -> None:
    _triggers(updates_by_statement=True)


def downgrade() -> None:
    _triggers(updates_by_statement=False)


def _triggers(*, updates_by_statement: bool) -> None:
    """The tallies' triggers, made again with the outbox's updates counted as told."""
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        return
    made = tallies.create_triggers(dialect, MINUTES, updates_by_statement=updates_by_statement)
    for statement in [*tallies.drop_triggers(dialect), *made]:
        op.execute(statement)
