"""The `no_account` notice: a resend or reset for an address no account uses tells that
address so, and the outbox's purposes admit it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
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
# The view as revision 0008 made it: SQLite rebuilds the table to change a constraint, which a
# view on it does not survive.
DEAD_LETTERS = """
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id, status,
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status IN ('dead', 'bounced')
"""


def _purposes(messages: tuple[str, ...]) -> str:
    return "purpose IN ({})".format(", ".join(f"'{name}'" for name in (*messages, *EVENTS)))


def upgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_purpose", type_="check")
        batch.create_check_constraint("outbox_purpose", _purposes((*MESSAGES, "no_account")))
    op.execute(DEAD_LETTERS)


def downgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    op.execute("DELETE FROM outbox WHERE purpose = 'no_account'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_purpose", type_="check")
        batch.create_check_constraint("outbox_purpose", _purposes(MESSAGES))
    op.execute(DEAD_LETTERS)
