"""Throttle events (per recipient, per client IP, code failures) and idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Keys are HMACs of "kind:subject", so the table holds no address or IP in clear.
    op.create_table(
        "throttle_events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", Ts, nullable=False),
    )
    op.create_index("throttle_events_key_at", "throttle_events", ["key", "at"])
    op.create_index("throttle_events_at", "throttle_events", ["at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("request_hmac", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_index("idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("throttle_events")
