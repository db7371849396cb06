"""Bounces and suppression: `bounced` messages, `suppressed` dead letters, the provider's id of
a sent message, provider events, and the suppression list (with a keyed hash of each address).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)

STATUSES = ("pending", "sent", "dead", "cancelled")
REASONS = ("permanent_error", "max_attempts", "expired")


def _dead_letters(statuses: str, status_column: str) -> str:
    return f"""
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id,{status_column}
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status IN ({statuses})
    """


def _among(column: str, names: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{name}'" for name in names))


def upgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    with op.batch_alter_table("outbox") as batch:
        # The provider's own id of a sent message (SES's from its 250 reply): how its
        # bounce notifications find the message when they lack our Message-ID.
        batch.add_column(sa.Column("provider_message_id", sa.String(200)))
        batch.drop_constraint("outbox_status", type_="check")
        batch.create_check_constraint("outbox_status", _among("status", (*STATUSES, "bounced")))
        batch.drop_constraint("outbox_dead_reason", type_="check")
        batch.create_check_constraint(
            "outbox_dead_reason",
            "dead_reason IS NULL OR " + _among("dead_reason", (*REASONS, "suppressed")),
        )
    op.create_index("outbox_provider_message_id", "outbox", ["provider_message_id"])
    op.create_index(
        "outbox_bounced",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'bounced'"),
        sqlite_where=sa.text("status = 'bounced'"),
    )
    op.execute(_dead_letters("'dead', 'bounced'", " status,"))
    op.create_table(
        "provider_events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("outbox_id", Id, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("permanent", sa.Boolean, nullable=False),
        sa.Column("diagnostic", sa.Text),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("at", Ts, nullable=False),
        sa.CheckConstraint(_among("type", ("bounce", "complaint", "delivery")), name="event_type"),
    )
    op.create_index("provider_events_outbox", "provider_events", ["outbox_id"])
    op.create_table(
        "suppressions",
        sa.Column("id", Id, primary_key=True),
        # NULL once the account is erased: the keyed hash still suppresses the address.
        sa.Column("address", sa.String(254)),
        sa.Column("address_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("event_id", Id, sa.ForeignKey("provider_events.id", ondelete="SET NULL")),
        sa.Column("created_at", Ts, nullable=False),
        sa.CheckConstraint(
            _among("reason", ("hard_bounce", "complaint", "rejected")), name="suppression_reason"
        ),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("provider_events")
    op.execute("DROP VIEW outbox_dead_letters")
    op.drop_index("outbox_bounced", "outbox")
    op.drop_index("outbox_provider_message_id", "outbox")
    # What the older schema cannot hold: bounced messages were sent; suppressed ones died.
    op.execute("UPDATE outbox SET status = 'sent' WHERE status = 'bounced'")
    op.execute("UPDATE outbox SET dead_reason = 'permanent_error' WHERE dead_reason = 'suppressed'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_dead_reason", type_="check")
        batch.create_check_constraint(
            "outbox_dead_reason", "dead_reason IS NULL OR " + _among("dead_reason", REASONS)
        )
        batch.drop_constraint("outbox_status", type_="check")
        batch.create_check_constraint("outbox_status", _among("status", STATUSES))
        batch.drop_column("provider_message_id")
    op.execute(_dead_letters("'dead'", ""))
