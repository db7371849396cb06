"""An unproven address holds nothing: an address is unique among the accounts that hold it (a
pending account's addresses, and proven ones), no longer among every account that carries it.

`users_email_held` and `users_phone_held` are unique over `status = 'pending' OR
<field>_proven_at IS NOT NULL`, so that a registration naming an address an active account
carries unproven makes a new pending account (shared.accounts.accounts.held); `users_email` and
`users_phone` find every account carrying an address, to take it from those that never proved
it when another proves it. They replace the columns' unique constraints of revision 0001.

The purpose `account.address_removed` (the event an account hears when it loses such an
address) widens the outbox's CHECK, as revision 0023 does.

The downgrade gives the constraints back once each address is on one account: an active
account loses an address that another account holds, as it would when that one proves it; the
events of the new purpose go (with their attempts).

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.checks import among, change_check

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

FIELDS = ("email", "phone")
# The outbox's purposes at revision 0026, written out: a migration must not change when the
# code does.
PURPOSES = (
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
)
NEW = "account.address_removed"
# Names the constraints that revision 0001 left unnamed, for SQLite's batch mode.
NAMING = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def _held(field: str) -> sa.TextClause:
    return sa.text(f"status = 'pending' OR {field}_proven_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("users", naming_convention=NAMING) as table:
        for field in FIELDS:
            table.drop_constraint(f"users_{field}_key", type_="unique")
    for field in FIELDS:
        op.create_index(
            f"users_{field}_held",
            "users",
            [field],
            unique=True,
            postgresql_where=_held(field),
            sqlite_where=_held(field),
        )
        op.create_index(f"users_{field}", "users", [field])
    change_check(
        "outbox", "outbox_purpose", among("purpose", PURPOSES), among("purpose", (*PURPOSES, NEW))
    )


def downgrade() -> None:
    events = f"SELECT id FROM outbox WHERE purpose = '{NEW}'"
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({events})")
    op.execute(f"DELETE FROM outbox WHERE purpose = '{NEW}'")
    change_check(
        "outbox", "outbox_purpose", among("purpose", (*PURPOSES, NEW)), among("purpose", PURPOSES)
    )
    for field in FIELDS:
        op.execute(
            f"UPDATE users SET {field} = NULL WHERE status = 'active'"
            f" AND {field}_proven_at IS NULL AND EXISTS (SELECT 1 FROM users AS other"
            f" WHERE other.{field} = users.{field} AND other.id <> users.id)"
        )
        op.drop_index(f"users_{field}", "users")
        op.drop_index(f"users_{field}_held", "users")
    with op.batch_alter_table("users", naming_convention=NAMING) as table:
        for field in FIELDS:
            table.create_unique_constraint(f"users_{field}_key", [field])
