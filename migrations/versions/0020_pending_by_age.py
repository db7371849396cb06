"""The pending rows by age: where the oldest due message is found when thousands are due.

`outbox_pending_created` orders the pending rows by creation, so that the backlog's oldest due
message is the first due row of a walk from the oldest pending one, instead of the least of
every due row (shared/operations/figures.py `backlog`, issue 51).

Writes wait while the index is built: it reads the whole outbox (a few seconds at 10M
messages) and holds the pending rows alone.

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

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "outbox_pending_created",
        "outbox",
        ["created_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("outbox_pending_created", "outbox")
