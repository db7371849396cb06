"""Lifecycle events: the `webhook` channel, event types as purposes (up to 40 characters).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
MESSAGES = ("activation", "password_reset", "password_changed", "welcome", "account_exists")
EVENTS = (
    "account.registered",
    "account.activated",
    "account.password_changed",
    "account.erased",
    "delivery.failed",
)

DEAD_LETTERS = """
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id,
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status = 'dead'
"""


def _among(column: str, names: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{name}'" for name in names))


def upgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("purpose", type_=sa.String(40), existing_nullable=False)
        batch.drop_constraint("outbox_channel", type_="check")
        batch.create_check_constraint(
            "outbox_channel", _among("channel", ("email", "sms", "webhook"))
        )
        batch.drop_constraint("outbox_purpose", type_="check")
        batch.create_check_constraint("outbox_purpose", _among("purpose", (*MESSAGES, *EVENTS)))
    op.execute(DEAD_LETTERS)


def downgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    # Their attempts first: SQLite migrates with foreign keys off (migrations/env.py).
    op.execute(
        "DELETE FROM outbox_attempts WHERE outbox_id IN "
        "(SELECT id FROM outbox WHERE channel = 'webhook')"
    )
    op.execute("DELETE FROM outbox WHERE channel = 'webhook'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_purpose", type_="check")
        batch.create_check_constraint("outbox_purpose", _among("purpose", MESSAGES))
        batch.drop_constraint("outbox_channel", type_="check")
        batch.create_check_constraint("outbox_channel", _among("channel", ("email", "sms")))
        batch.alter_column("purpose", type_=sa.String(20), existing_nullable=False)
    op.execute(DEAD_LETTERS)
