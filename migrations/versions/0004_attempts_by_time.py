"""An index on attempt times: the operators' last-hour and 24-hour figures read by time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("outbox_attempts_attempted_at", "outbox_attempts", ["attempted_at"])


def downgrade() -> None:
    op.drop_index("outbox_attempts_attempted_at", "outbox_attempts")
