"""The pending rows by age, and the unresolved dead letters by id.

`outbox_pending_created` orders the pending rows by creation, so that the backlog's oldest due
message is the first due row of a walk from the oldest pending one, instead of the least of
every due row (shared/operations/figures.py `backlog`, issue 51).

`outbox_unresolved` holds the dead letters no operator has resolved, newest first as the list
shows them: the list walked the whole outbox back from its newest row until it had a page
of them, so every row younger than the page's oldest, and the whole table where none was left
(shared/operations/dead_letters.py `list_dead`).

Writes wait while the indexes are built: each reads the whole outbox and holds few rows (0.7
and 1.0 s for 10 million narrow rows in memory, on the 2-core VM of bench/README.md; longer
where the table is read from disk).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# Each index: its columns and the rows it holds (written as the statements that read it
# write them, for a generic plan's predicate to match).
INDEXES = {
    "outbox_pending_created": (["created_at"], "status = 'pending'"),
    "outbox_unresolved": (["id"], "status IN ('dead', 'bounced') AND resolution IS NULL"),
}


def upgrade() -> None:
    for name, (columns, where) in INDEXES.items():
        rows = sa.text(where)
        op.create_index(name, "outbox", columns, postgresql_where=rows, sqlite_where=rows)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "outbox")
