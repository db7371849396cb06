"""Address changes: a code bound to the new address it was sent to (`verification_tokens.address`),
the purposes `address_change` (that code) and `address_changed` (the notice to the old address),
and the event `account.address_changed`.

On SQLite the CHECK constraints are widened in place, in the tables' stored definitions, as
revision 0013 does: widening a CHECK changes nothing on disk. The downgrade first deletes what
the narrower constraints would refuse: the new purposes' messages (with their attempts and
receipts) and codes; the older code knows neither.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.checks import among, change_check

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
MESSAGES = (
    "activation",
    "password_reset",
    "password_changed",
    "welcome",
    "account_exists",
    "no_account",
)
EVENTS = (
    "account.registered",
    "account.activated",
    "account.password_changed",
    "account.erased",
    "delivery.failed",
)
NEW_MESSAGES = ("address_change", "address_changed")
NEW_EVENTS = ("account.address_changed",)
CODES = ("activation", "password_reset")
NEW_CODES = ("address_change",)


# (table, constraint, purposes before, purposes after)
CHECKS = (
    (
        "outbox",
        "outbox_purpose",
        (*MESSAGES, *EVENTS),
        (*MESSAGES, *EVENTS, *NEW_MESSAGES, *NEW_EVENTS),
    ),
    ("verification_tokens", "verification_tokens_purpose", CODES, (*CODES, *NEW_CODES)),
)


def upgrade() -> None:
    for table, name, old, new in CHECKS:
        change_check(table, name, among("purpose", old), among("purpose", new))
    op.add_column("verification_tokens", sa.Column("address", sa.String(254)))


def downgrade() -> None:
    # What refers to them first: SQLite migrates with foreign keys off (migrations/env.py).
    purposes = ", ".join(f"'{name}'" for name in (*NEW_MESSAGES, *NEW_EVENTS))
    messages = f"SELECT id FROM outbox WHERE purpose IN ({purposes})"
    events = f"SELECT id FROM provider_events WHERE outbox_id IN ({messages})"
    op.execute(f"UPDATE suppressions SET event_id = NULL WHERE event_id IN ({events})")
    op.execute(f"DELETE FROM provider_events WHERE outbox_id IN ({messages})")
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({messages})")
    op.execute(f"DELETE FROM outbox WHERE purpose IN ({purposes})")
    codes = "SELECT id FROM verification_tokens WHERE purpose = 'address_change'"
    op.execute(f"UPDATE outbox SET token_id = NULL WHERE token_id IN ({codes})")
    op.execute("DELETE FROM verification_tokens WHERE purpose = 'address_change'")
    op.drop_column("verification_tokens", "address")
    for table, name, old, new in CHECKS:
        change_check(table, name, among("purpose", new), among("purpose", old))
