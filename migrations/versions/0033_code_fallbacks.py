"""A code's fallback on the account's other channel (CODE_FALLBACK_AFTER): `outbox.fallback_at`
and `outbox.fallback_id`.

`fallback_at` is when the relay decided a code message's fallback (whether or not one could
go), and on a fallback itself when it was written: a message falls back once, and a fallback
never. `fallback_id` is the public id of the fallback sent, if one was.

Only nullable columns are added (docs/operations.md, "Expand, then contract"): the older code
never reads them, and the messages written before the upgrade have had no fallback. The
downgrade drops them.

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place on SQLite too: a batch would rebuild the table under the views over it.
    op.add_column("outbox", sa.Column("fallback_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("fallback_id", sa.String(36)))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN on both (SQLite since 3.35), for the same reason.
    op.execute("ALTER TABLE outbox DROP COLUMN fallback_id")
    op.execute("ALTER TABLE outbox DROP COLUMN fallback_at")
