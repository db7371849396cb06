"""The `no_account` notice: a resend or reset for an address no account uses tells that
address so, and the outbox's purposes admit it.

On SQLite the constraint is changed in place, in the table's stored definition, rather than by
rebuilding the table (and the dead letters' view over it): widening a CHECK changes nothing on
disk (SQLite's "ALTER TABLE", other schema changes), and the downgrade first deletes the rows
the narrower one would refuse.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from migrations.checks import change_check

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
WITH_NOTICE = (*MESSAGES, "no_account")


def _purposes(messages: tuple[str, ...]) -> str:
    return "purpose IN ({})".format(", ".join(f"'{name}'" for name in (*messages, *EVENTS)))


def _change_purposes(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    change_check("outbox", "outbox_purpose", _purposes(old), _purposes(new))


def upgrade() -> None:
    _change_purposes(MESSAGES, WITH_NOTICE)


def downgrade() -> None:
    # What refers to them first: SQLite migrates with foreign keys off (migrations/env.py).
    notices = "SELECT id FROM outbox WHERE purpose = 'no_account'"
    events = f"SELECT id FROM provider_events WHERE outbox_id IN ({notices})"
    op.execute(f"UPDATE suppressions SET event_id = NULL WHERE event_id IN ({events})")
    op.execute(f"DELETE FROM provider_events WHERE outbox_id IN ({notices})")
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({notices})")
    op.execute("DELETE FROM outbox WHERE purpose = 'no_account'")
    _change_purposes(WITH_NOTICE, MESSAGES)
