"""Sign-in by code: the purpose `login_code`, of a message and of its code.

Only CHECK constraints are widened (docs/operations.md, "Expand, then contract"): on SQLite in
the tables' stored definitions, as revisions 0013 and 0017 do. The downgrade first deletes what
the narrower constraints would refuse: sign-in codes and their messages (with their attempts
and receipts); the older code knows neither.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from migrations.checks import among, change_check

revision = "0023"
down_revision = "0022"
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
CHANGES = ("address_change", "address_changed")
CHANGE_EVENTS = ("account.address_changed",)
CODES = ("activation", "password_reset", "address_change")
NEW = "login_code"

# (table, constraint, purposes before, purposes after)
CHECKS = (
    (
        "outbox",
        "outbox_purpose",
        (*MESSAGES, *EVENTS, *CHANGES, *CHANGE_EVENTS),
        (*MESSAGES, *EVENTS, *CHANGES, *CHANGE_EVENTS, NEW),
    ),
    ("verification_tokens", "verification_tokens_purpose", CODES, (*CODES, NEW)),
)


def upgrade() -> None:
    for table, name, old, new in CHECKS:
        change_check(table, name, among("purpose", old), among("purpose", new))


def downgrade() -> None:
    # What refers to them first: SQLite migrates with foreign keys off (migrations/env.py).
    messages = f"SELECT id FROM outbox WHERE purpose = '{NEW}'"
    events = f"SELECT id FROM provider_events WHERE outbox_id IN ({messages})"
    op.execute(f"UPDATE suppressions SET event_id = NULL WHERE event_id IN ({events})")
    op.execute(f"DELETE FROM provider_events WHERE outbox_id IN ({messages})")
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({messages})")
    op.execute(f"DELETE FROM outbox WHERE purpose = '{NEW}'")
    codes = f"SELECT id FROM verification_tokens WHERE purpose = '{NEW}'"
    op.execute(f"UPDATE outbox SET token_id = NULL WHERE token_id IN ({codes})")
    op.execute(f"DELETE FROM verification_tokens WHERE purpose = '{NEW}'")
    for table, name, old, new in CHECKS:
        change_check(table, name, among("purpose", new), among("purpose", old))
