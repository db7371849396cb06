"""A registration's second address, the one its channel does not reach: held for whoever proves
it, and taken from no one (SPEC "Proof of address").

Without this, a registration whose channel's address is taken left its other address free, and
one whose other address a pending account held left that account as it was: a pending account
of another's password could then be activated by the address's owner with a code she took for
her own sign-up's, and open to that password.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, update

from shared.accounts.accounts import UserStatus, insert_user
from shared.accounts.sign_up import NO_PASSWORD_YET
from shared.database.models import users
from shared.vocabulary import Channel


def other_address(email: str | None, phone: str | None, channel: Channel) -> tuple[str, str] | None:
    """The (field, address) a registration names beside its channel's, if it names two."""
    field, address = ("phone", phone) if channel == Channel.EMAIL else ("email", email)
    return (field, address) if address is not None else None


def contest_other(connection: Connection, field: str, address: str, *, beside: int) -> None:
    """Mark contested the pending account holding `address`, unless it is `beside` (the account
    the registration answers, whose password was checked): its activation then takes the
    password the account will have. Its password cannot be checked at a second hash's cost, so
    the contest is unconditional; a person naming her own pending account's two addresses
    again types her password once more."""
    connection.execute(_CONTESTS[field], {"address": address, "beside": beside})


def hold_other(
    connection: Connection, field: str, address: str, *, locale: str, now: datetime
) -> None:
    """Hold a free `address` in a pending account of no password, contested: no message goes
    to it now (the registration's one delivery is its owner's), and whoever proves it with a
    code, asked for later, gives the password it will have. Held already, nothing changes."""
    held = {field: address, "locale": locale, "contested": True}
    insert_user(connection, now, password_hash=NO_PASSWORD_YET, **held)


# Built once, a statement for each field: a registration only binds values to them.
_CONTESTS = {
    field: update(users)
    .where(
        users.c[field] == bindparam("address"),
        users.c.status == UserStatus.PENDING,
        users.c.id != bindparam("beside"),
    )
    .values(contested=True)
    for field in ("email", "phone")
}
