"""Providers' notifications already recorded, by the provider's id of each (SNS's MessageId),
so that a notification posted again (SNS retries one it did not see answered) records nothing
more, whichever API worker gets it and after restarts. Purged a day after.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_notifications",
        sa.Column("source", sa.String(20), primary_key=True),
        sa.Column("notification_id", sa.String(100), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("provider_notifications_received_at", "provider_notifications", ["received_at"])


def downgrade() -> None:
    op.drop_table("provider_notifications")
