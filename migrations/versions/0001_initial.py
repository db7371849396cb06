"""Users, verification tokens, the outbox, its attempts and the dead-letter view.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True),
        sa.Column("email", sa.String(254), unique=True),
        sa.Column("phone", sa.String(16), unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(200)),
        sa.Column("locale", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("activated_at", Ts),
        sa.CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="users_has_address"),
        sa.CheckConstraint("status IN ('pending', 'active')", name="users_status"),
    )
    op.create_table(
        "verification_tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("code_hmac", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("used_at", Ts),
        sa.CheckConstraint(
            "purpose IN ('activation', 'password_reset')", name="verification_tokens_purpose"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'used', 'superseded', 'dead')",
            name="verification_tokens_status",
        ),
    )
    op.create_index(
        "verification_tokens_user_purpose", "verification_tokens", ["user_id", "purpose"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("locale", sa.String(5), nullable=False),
        sa.Column("template", sa.String(50), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("secret_params", sa.Text),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("token_id", Id, sa.ForeignKey("verification_tokens.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Ts, nullable=False),
        sa.Column("locked_until", Ts),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("expires_at", Ts),
        sa.Column("sent_at", Ts),
        sa.Column("dead_reason", sa.String(20)),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="outbox_channel"),
        sa.CheckConstraint(
            "purpose IN ('activation', 'password_reset', 'password_changed', 'welcome', "
            "'account_exists')",
            name="outbox_purpose",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'dead', 'cancelled')", name="outbox_status"
        ),
        sa.CheckConstraint(
            "dead_reason IS NULL OR dead_reason IN ('permanent_error', 'max_attempts', 'expired')",
            name="outbox_dead_reason",
        ),
    )
    # Claiming reads only this index: its size follows the pending rows, never the sent ones.
    op.create_index(
        "outbox_due",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index("outbox_recipient_purpose", "outbox", ["recipient", "purpose", "created_at"])
    op.create_index("outbox_user", "outbox", ["user_id"])
    op.create_index("outbox_token", "outbox", ["token_id"])
    op.create_index(
        "outbox_dead",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'dead'"),
        sqlite_where=sa.text("status = 'dead'"),
    )
    op.create_table(
        "outbox_attempts",
        sa.Column("id", Id, primary_key=True),
        sa.Column("outbox_id", Id, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempted_at", Ts, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('sent', 'transient', 'permanent', 'expired')",
            name="outbox_attempts_outcome",
        ),
    )
    op.create_index("outbox_attempts_outbox", "outbox_attempts", ["outbox_id"])
    op.execute(
        """
        CREATE VIEW outbox_dead_letters AS
        SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id,
               attempts, dead_reason, last_error,
               (SELECT max(a.attempted_at) FROM outbox_attempts a
                 WHERE a.outbox_id = outbox.id) AS last_attempt_at
          FROM outbox
         WHERE status = 'dead'
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    op.drop_table("outbox_attempts")
    op.drop_table("outbox")
    op.drop_table("verification_tokens")
    op.drop_table("users")
