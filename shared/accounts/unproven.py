"""Addresses an active account carries but never proved: they hold nothing (SPEC "An unproven
address holds nothing"), and leave the account when another proves them."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, and_, select, update

from shared.accounts.accounts import ADDRESS_FIELDS, User, users_where
from shared.database.models import users
from shared.vocabulary import UserStatus


def carried_unproven(connection: Connection, address: str) -> bool:
    """Whether an active account carries `address` (an email address or a number) without
    having proven it: one statement, whatever the answer."""
    field = "email" if "@" in address else "phone"
    found = connection.execute(
        select(users.c.id)
        .where(
            users.c[field] == address,
            users.c.status == UserStatus.ACTIVE,
            users.c[f"{field}_proven_at"].is_(None),
        )
        .limit(1)
    ).first()
    return found is not None


def release_address(connection: Connection, field: str, address: str, keeper: int) -> list[User]:
    """Take `address` (as `field`) from every account but `keeper` that never proved it and
    holds another address, as `keeper` proves it; those accounts as they were."""
    if field not in ADDRESS_FIELDS:
        raise ValueError(f"not an address field: {field!r}")
    other = "phone" if field == "email" else "email"
    losing = (
        users.c[field] == address,
        users.c.id != keeper,
        users.c[f"{field}_proven_at"].is_(None),
        users.c[other].is_not(None),
    )
    found = users_where(connection, and_(*losing))
    if found:
        connection.execute(update(users).where(*losing).values({field: None}))
    return found


def drop_unproven(connection: Connection, user: User, proved: str | None) -> User:
    """Remove the addresses of `user` that neither `proved` (the address a code was just used
    at) nor an earlier code proved; the account as it is then.

    Called as a contested account is activated with another password than the one it was
    registered with: those addresses came with the registration whose password lost.
    """

    def kept(address: str | None) -> str | None:
        return address if address == proved or (address and user.proven(address)) else None

    email, phone = kept(user.email), kept(user.phone)
    connection.execute(update(users).where(users.c.id == user.id).values(email=email, phone=phone))
    return replace(user, email=email, phone=phone)
