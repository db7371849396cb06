"""An account's own history: `account_events`, one row for each thing that happened to it.

Each row is written in the transaction of what it records (shared/accounts/history.py): registered,
a registration naming its address, activated, signed in or failed to, a code asked for, the
password and the address changed. `account_events_user_id` reads an account's events newest
first (the admin API's and the dashboard's history, a page at a time); `account_events_at`
lets the daily purge remove those past ACCOUNT_EVENTS_RETENTION_DAYS oldest first. A row goes
with its account (ON DELETE CASCADE): erasure and the purge of accounts never activated,
whichever code runs them.

Only a table is added (docs/operations.md, "Expand, then contract"): the older code never
reads it. The downgrade drops it, and the history with it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "account_events",
        sa.Column("id", identity, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            identity,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.Text),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("account_events_user_id", "account_events", ["user_id", "id"])
    op.create_index("account_events_at", "account_events", ["at"])


def downgrade() -> None:
    op.drop_index("account_events_at", "account_events")
    op.drop_index("account_events_user_id", "account_events")
    op.drop_table("account_events")
