"""`provider_pauses`: the providers paused now, by an operator or by a relay, shared by relays;
and the events `provider.down` and `provider.up`.

An operator's pause (`outbox-relay providers pause`) is kept here, with its reason and its end,
for every relay on the database to obey; a relay records here its own pauses (the provider's
failure) so that operators see why a provider is where it is, and `told_at` says when the
application was told `provider.down`, so that one relay among many tells it, once.

Only a table is added and the outbox's CHECK constraint on purposes widened (docs/operations.md,
"Expand, then contract"): the older code never reads either. The downgrade drops the table (the
operators' pauses end, and relays judge alone again), and first deletes the two events and their
attempts, which the narrower constraint would refuse.

Revision ID: 0032
Revises: 0030
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.checks import among, change_check

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does. The
# purposes as revision 0030 left them, in its order.
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
    "delivery.delivered",
    "account.address_removed",
    "delivery.sent",
)
NEW = ("provider.down", "provider.up")


def upgrade() -> None:
    op.create_table(
        "provider_pauses",
        sa.Column("provider", sa.String(20), primary_key=True),
        sa.Column("paused_by", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("told_at", sa.DateTime(timezone=True)),
    )
    change_check(
        "outbox", "outbox_purpose", among("purpose", BEFORE), among("purpose", (*BEFORE, *NEW))
    )


def downgrade() -> None:
    # What refers to them first: SQLite migrates with foreign keys off (migrations/env.py).
    listed = ", ".join(f"'{purpose}'" for purpose in NEW)
    events = f"SELECT id FROM outbox WHERE purpose IN ({listed})"
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({events})")
    op.execute(f"DELETE FROM outbox WHERE purpose IN ({listed})")
    change_check(
        "outbox", "outbox_purpose", among("purpose", (*BEFORE, *NEW)), among("purpose", BEFORE)
    )
    op.drop_table("provider_pauses")
