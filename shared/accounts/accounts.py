"""SQL for users, run inside the caller's unit of work (their codes:
shared/accounts/verification.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from shared.database.driver import DriverStatement, bound
from shared.database.models import users
from shared.database.throttle import Along

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import UserStatus as UserStatus


@dataclass(frozen=True)
class User:
    """The columns of a user the flows need."""

    id: int
    email: str | None
    phone: str | None
    full_name: str | None
    locale: str
    status: UserStatus
    email_proven_at: datetime | None = None
    phone_proven_at: datetime | None = None
    contested: bool = False

    def holds(self, address: str | None) -> bool:
        """Whether `address` is this account's to use: any of a pending account's, only a
        proven one of an active account's (SPEC "An unproven address holds nothing")."""
        if address is None or address not in (self.email, self.phone):
            return False
        return self.status == UserStatus.PENDING or self.proven(address)

    @property
    def email_proven(self) -> bool:
        """Whether a code sent to the account's email was used."""
        return self.email is not None and self.email_proven_at is not None

    @property
    def phone_proven(self) -> bool:
        """Whether a code sent to the account's phone was used."""
        return self.phone is not None and self.phone_proven_at is not None

    def proven(self, address: str) -> bool:
        """Whether `address` is this account's and a code sent to it was used."""
        if address == self.email:
            return self.email_proven_at is not None
        return address == self.phone and self.phone_proven_at is not None

    def without(self, field: str) -> User:
        """This account once its address in `field` (email or phone) left it."""
        if field == "email":
            return replace(self, email=None, email_proven_at=None)
        return replace(self, phone=None, phone_proven_at=None)

    def proven_at(self, address: str | None, now: datetime) -> User:
        """This account once a code sent to `address` was used `now` (unchanged if it is not
        one of its addresses)."""
        if address is not None and address == self.email:
            return replace(self, email_proven_at=self.email_proven_at or now)
        if address is not None and address == self.phone:
            return replace(self, phone_proven_at=self.phone_proven_at or now)
        return self


def find_user(connection: Connection, email: str | None, phone: str | None) -> User | None:
    """The user holding either address, if any (an active account's unproven address is not
    held: SPEC "An unproven address holds nothing")."""
    return _find(connection, email, phone, or_)


def find_account(connection: Connection, email: str | None, phone: str | None) -> User | None:
    """The user holding every address given (a request's email and/or phone), if any."""
    return _find(connection, email, phone, and_)


def held(field: str, address: str | None) -> ColumnElement[bool]:
    """Whether a user holds `address` as its `field`: a pending account's, or proven.

    The condition of the unique indexes `users_email_held` and `users_phone_held`: one account
    at most holds an address; others may carry it unproven, and lose it when it is proven.
    """
    return and_(
        users.c[field] == address,
        or_(users.c.status == UserStatus.PENDING, users.c[f"{field}_proven_at"].is_not(None)),
    )


def _find(
    connection: Connection,
    email: str | None,
    phone: str | None,
    combine: Callable[..., ColumnElement[bool]],
) -> User | None:
    conditions = []
    if email is not None:
        conditions.append(held("email", email))
    if phone is not None:
        conditions.append(held("phone", phone))
    if not conditions:
        return None
    return _one_user(connection, combine(*conditions))


def user_by_id(connection: Connection, user_id: int | None) -> User | None:
    """The user with this id, if any."""
    return None if user_id is None else _one_user(connection, users.c.id == user_id)


def _one_user(connection: Connection, condition: ColumnElement[bool]) -> User | None:
    row = connection.execute(_USER.where(condition).order_by(users.c.id).limit(1)).one_or_none()
    return User(**row._mapping) if row else None


def users_where(connection: Connection, condition: ColumnElement[bool]) -> list[User]:
    rows = connection.execute(_USER.where(condition).order_by(users.c.id))
    return [User(**row._mapping) for row in rows]


# The columns of a User.
_USER = select(
    users.c.id,
    users.c.email,
    users.c.phone,
    users.c.full_name,
    users.c.locale,
    users.c.status,
    users.c.email_proven_at,
    users.c.phone_proven_at,
    users.c.contested,
)


def insert_user(connection: Connection, now: datetime, **values: Any) -> int | None:
    """Insert a pending user; None when one of its addresses is already taken.

    ON CONFLICT DO NOTHING (PostgreSQL and SQLite alike) rather than a savepoint around a
    failing insert: one statement instead of three, and no error in the server's log.
    """
    values = {"status": UserStatus.PENDING, "created_at": now, **values}
    inserted = _inserting_user(connection.dialect.name, tuple(values)).rows(connection, values)
    return inserted[0]["id"] if inserted else None


def password_hash_of(connection: Connection, user_id: int) -> str | None:
    """The stored hash of a user's password (None if the user is gone)."""
    found = connection.execute(
        select(users.c.password_hash).where(users.c.id == user_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def set_password(connection: Connection, user_id: int | None, password_hash: str) -> None:
    """Store the user's password hash; with no user, the same statement changes nothing."""
    password_setting(user_id, password_hash).run(connection)


def activate_user(connection: Connection, user_id: int, now: datetime) -> bool:
    """Mark a pending account active; whether this call did (a racing request finds it done)."""
    activated = connection.execute(
        update(users)
        .where(users.c.id == user_id, users.c.status == UserStatus.PENDING)
        .values(status=UserStatus.ACTIVE, activated_at=now, contested=False)
    )
    return bool(activated.rowcount)


def change_address(
    connection: Connection, user_id: int, field: str, address: str, now: datetime
) -> bool:
    """Give the user `address` as its `field` (email or phone), proven by the code sent to it;
    False, and nothing changed, when another account took that address meanwhile.

    The insert of a registration does not wait for this update's lock on the unique index,
    so a savepoint takes the conflict rather than a check before the update.
    """
    if field not in ADDRESS_FIELDS:
        raise ValueError(f"not an address field: {field!r}")
    savepoint = connection.begin_nested()
    try:
        connection.execute(
            update(users)
            .where(users.c.id == user_id)
            .values({field: address, f"{field}_proven_at": now})
        )
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def prove_address(connection: Connection, user_id: int, address: str, now: datetime) -> str | None:
    """Mark `address` proven if it is the user's (a code sent to it was used); the field it
    was newly proven as, if it was not before."""
    for field in ADDRESS_FIELDS:
        column = users.c[field]
        proven = connection.execute(
            update(users)
            .where(
                users.c.id == user_id, column == address, users.c[f"{field}_proven_at"].is_(None)
            )
            .values({f"{field}_proven_at": now})
        )
        if proven.rowcount:
            return field
    return None


def pending_password_hash(
    connection: Connection, email: str | None, phone: str | None
) -> str | None:
    """The password hash of the pending account owning either address, if there is one."""
    found = _PENDING_HASH.rows(connection, {"email": email, "phone": phone})
    return str(found[0]["password_hash"]) if found else None


def contest_setting(user_id: int) -> Along:
    """What marks a pending account contested (a registration of another password named it),
    for a limit's lock to carry (shared.database.throttle.Along)."""
    return Along((_CONTEST,), {"user_id": user_id})


def password_setting(user_id: int | None, password_hash: str) -> Along:
    """What set_password runs, for a limit's lock to carry (shared.database.throttle.Along)."""
    return Along((_SET_PASSWORD,), {"user_id": user_id, "password_hash": password_hash})


# Statements of the registration path built once: a request only binds values to them, which
# spares SQLAlchemy building and keying a new statement each time.
_SET_PASSWORD = (
    update(users)
    .where(users.c.id == bindparam("user_id"))
    .values(password_hash=bindparam("password_hash"))
)
# A registration's first statement, run for every sign-up: built once.
_PENDING_HASH = DriverStatement(
    select(users.c.password_hash)
    .where(
        or_(users.c.email == bindparam("email"), users.c.phone == bindparam("phone")),
        users.c.status == UserStatus.PENDING,
    )
    .order_by(users.c.id)
    .limit(1)
)
_CONTEST = (
    update(users)
    .where(users.c.id == bindparam("user_id"), users.c.status == UserStatus.PENDING)
    .values(contested=True)
)
_INSERTS: dict[str, Callable[[Table], PgInsert | SqliteInsert]] = {
    "postgresql": pg_insert,
    "sqlite": sqlite_insert,
}


@cache
def _inserting_user(dialect: str, columns: tuple[str, ...]) -> DriverStatement:
    """A user's insert naming `columns`, for `dialect`; built once per set of columns, which
    each caller keeps the same."""
    statement = _INSERTS[dialect](users).values(bound(users, columns))
    return DriverStatement(statement.on_conflict_do_nothing().returning(users.c.id))


# A user's address columns, as requests name them.
ADDRESS_FIELDS = ("email", "phone")
