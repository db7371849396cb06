"""Proof of address: when each of an account's addresses was proven by a code
(`users.email_proven_at`, `users.phone_proven_at`), and whether a pending account was contested
by a registration of another password (`users.contested`).

Existing active accounts are marked proven at the address their activation (or any code they
used since) went to, read from the used codes' messages; an active account with no such message
left (purged) is taken as proven at its email, else at its phone: email is the channel a
registration takes unless it asks for SMS, and a phone left unproven only loses password resets
by SMS until the owner proves it again (an address change to it). Pending accounts are proven
nowhere and uncontested.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# A used code's message to the account's address in `column`, written out: a migration must not
# change when the code does.
_USED_TO = """EXISTS (SELECT 1 FROM verification_tokens t JOIN outbox o ON o.token_id = t.id
    WHERE t.user_id = users.id AND t.status = 'used' AND o.recipient = users.{column})"""
_NO_EVIDENCE = "NOT ({email}) AND NOT ({phone})".format(
    email=_USED_TO.format(column="email"), phone=_USED_TO.format(column="phone")
)
BACKFILL = {
    "email_proven_at": f"email IS NOT NULL AND ({_USED_TO.format(column='email')}"
    f" OR {_NO_EVIDENCE})",
    "phone_proven_at": f"phone IS NOT NULL AND ({_USED_TO.format(column='phone')}"
    f" OR (email IS NULL AND {_NO_EVIDENCE}))",
}


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("email_proven_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("phone_proven_at", sa.DateTime(timezone=True)))
        table.add_column(
            sa.Column("contested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for column, where in BACKFILL.items():
        op.execute(
            f"UPDATE users SET {column} = COALESCE(activated_at, created_at)"
            f" WHERE status = 'active' AND {where}"
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.drop_column("contested")
        table.drop_column("phone_proven_at")
        table.drop_column("email_proven_at")
