"""Operators: how a dead letter was resolved, the audit of operator actions, purge indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)

DEAD_LETTERS = """
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id,
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status = 'dead'
"""


def upgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    with op.batch_alter_table("outbox") as batch:
        # A dead letter an operator dealt with: `retried` (a fresh code went out as the row
        # `replaced_by`) or `discarded`. Requeued rows are pending again and need no mark.
        batch.add_column(sa.Column("resolution", sa.String(10)))
        batch.add_column(sa.Column("resolved_at", Ts))
        batch.add_column(sa.Column("replaced_by", sa.String(36)))
        batch.create_check_constraint(
            "outbox_resolution", "resolution IS NULL OR resolution IN ('retried', 'discarded')"
        )
    op.execute(DEAD_LETTERS)
    op.create_index(
        "outbox_sent_at",
        "outbox",
        ["sent_at"],
        postgresql_where=sa.text("status = 'sent'"),
        sqlite_where=sa.text("status = 'sent'"),
    )
    op.create_index("users_pending_created_at", "users", ["status", "created_at"])
    op.create_table(
        "operator_actions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("at", Ts, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(100)),
        sa.Column("details", sa.JSON),
    )
    op.create_index("operator_actions_at", "operator_actions", ["at"])


def downgrade() -> None:
    op.drop_table("operator_actions")
    op.drop_index("users_pending_created_at", "users")
    op.drop_index("outbox_sent_at", "outbox")
    op.execute("DROP VIEW outbox_dead_letters")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_resolution", type_="check")
        batch.drop_column("replaced_by")
        batch.drop_column("resolved_at")
        batch.drop_column("resolution")
    op.execute(DEAD_LETTERS.replace("resolution, resolved_at, replaced_by,\n", ""))
