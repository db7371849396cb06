"""The event `delivery.delivered`: a provider's receipt said a message arrived, told to the
application (clients no longer see `delivered_at`).

Only the outbox's CHECK constraint on purposes is widened (docs/operations.md, "Expand, then
contract"): on SQLite in the table's stored definition, as revisions 0013, 0017 and 0023 do.
The downgrade first deletes what the narrower constraint would refuse: those events and their
attempts; the older code knows none.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from migrations.checks import among, change_check

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does. The
# purposes as revision 0023 left them, in its order.
BEFORE = (
    "activation",
    "password_reset",
    "password_changed",
    "welcome",
    "account_exists",
    "no_account",
    "account.registered",
    "account.activated",
    "account.password_changed",
    "account.erased",
    "delivery.failed",
    "address_change",
    "address_changed",
    "account.address_changed",
    "login_code",
)
NEW = "delivery.delivered"


def upgrade() -> None:
    change_check(
        "outbox", "outbox_purpose", among("purpose", BEFORE), among("purpose", (*BEFORE, NEW))
    )


def downgrade() -> None:
    # What refers to them first: SQLite migrates with foreign keys off (migrations/env.py).
    events = f"SELECT id FROM outbox WHERE purpose = '{NEW}'"
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({events})")
    op.execute(f"DELETE FROM outbox WHERE purpose = '{NEW}'")
    change_check(
        "outbox", "outbox_purpose", among("purpose", (*BEFORE, NEW)), among("purpose", BEFORE)
    )
