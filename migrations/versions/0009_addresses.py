"""Addresses in their one stored form: email addresses checked and lower-cased with IDNA domains
in ASCII, phone numbers in E.164, for accounts and for the messages still pending.

An address that cannot be normalised, or whose normal form another account already holds, is
left as it is and reported (a warning line naming the account), never a failed migration: the
operator decides which account keeps the address.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from shared.accounts.addresses import AddressError, normalise_email, normalise_phone

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("outpost.migrations")

USERS = sa.table("users", sa.column("id", sa.Integer), sa.column("email"), sa.column("phone"))
OUTBOX = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("channel"),
    sa.column("recipient"),
    sa.column("status"),
)
NORMALISE: dict[str, Callable[[str], str]] = {
    "email": normalise_email,
    "phone": lambda number: normalise_phone(number, None),
}


def upgrade() -> None:
    connection = op.get_bind()
    for column, normalise in NORMALISE.items():
        _normalise_accounts(connection, column, normalise)
    pending = connection.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.recipient).where(
            OUTBOX.c.status == "pending", OUTBOX.c.channel.in_(("email", "sms"))
        )
    ).all()
    for row in pending:
        normal = _normal_form(NORMALISE["email" if row.channel == "email" else "phone"], row)
        if normal is not None and normal != row.recipient:
            connection.execute(
                sa.update(OUTBOX).where(OUTBOX.c.id == row.id).values(recipient=normal)
            )


def _normalise_accounts(
    connection: sa.Connection, column: str, normalise: Callable[[str], str]
) -> None:
    value = USERS.c[column]
    accounts = connection.execute(sa.select(USERS.c.id, value).where(value.is_not(None))).all()
    owners = {address: user_id for user_id, address in accounts}
    for user_id, address in accounts:
        try:
            normal = normalise(address)
        except AddressError as exc:
            log.warning("user %s: %s %r left as it is: %s", user_id, column, address, exc)
            continue
        if normal == address:
            continue
        if normal in owners:
            log.warning(
                "user %s: %s %r left as it is: its normal form %r belongs to user %s",
                user_id,
                column,
                address,
                normal,
                owners[normal],
            )
            continue
        connection.execute(sa.update(USERS).where(USERS.c.id == user_id).values({column: normal}))
        del owners[address]
        owners[normal] = user_id


def _normal_form(normalise: Callable[[str], str], row: sa.Row[tuple[int, str, str]]) -> str | None:
    try:
        return normalise(row.recipient)
    except AddressError:
        return None


def downgrade() -> None:
    """Nothing to undo: the normal forms are addresses the earlier rules accepted too."""
