"""SQL for users and their verification codes, run inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    case,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.codes import MAX_CODE_TRIES, CodeStatus, code_hmac, code_matches, new_code
from shared.driver import DriverStatement, bound
from shared.models import users, verification_tokens
from shared.outbox import INSERT_TOKEN
from shared.throttle import Along
from shared.transitions import cancel_messages


class UserStatus(StrEnum):
    """An account's state: pending until a code activates it, then active."""

    PENDING = "pending"
    ACTIVE = "active"


@dataclass(frozen=True)
class User:
    """The columns of a user the flows need."""

    id: int
    email: str | None
    phone: str | None
    full_name: str | None
    locale: str
    status: str


@dataclass(frozen=True)
class FreshCode:
    """A code not yet written: its plaintext, its expiry and its token's row."""

    code: str
    expires_at: datetime
    row: dict[str, Any]


@dataclass(frozen=True)
class IssuedCode:
    """A fresh code: its plaintext lives only in memory and in the encrypted outbox row."""

    token_id: int
    code: str
    expires_at: datetime


def find_user(connection: Connection, email: str | None, phone: str | None) -> User | None:
    """The user owning either address, if any."""
    return _find(connection, email, phone, or_)


def find_account(connection: Connection, data: dict[str, Any]) -> User | None:
    """The user owning every address the request names, if any."""
    return _find(connection, data.get("email"), data.get("phone"), and_)


def _find(
    connection: Connection,
    email: str | None,
    phone: str | None,
    combine: Callable[..., ColumnElement[bool]],
) -> User | None:
    conditions = []
    if email is not None:
        conditions.append(users.c.email == email)
    if phone is not None:
        conditions.append(users.c.phone == phone)
    if not conditions:
        return None
    return _one_user(connection, combine(*conditions))


def user_by_id(connection: Connection, user_id: int | None) -> User | None:
    """The user with this id, if any."""
    return None if user_id is None else _one_user(connection, users.c.id == user_id)


def _one_user(connection: Connection, condition: ColumnElement[bool]) -> User | None:
    row = connection.execute(
        select(
            users.c.id,
            users.c.email,
            users.c.phone,
            users.c.full_name,
            users.c.locale,
            users.c.status,
        )
        .where(condition)
        .order_by(users.c.id)
        .limit(1)
    ).one_or_none()
    return User(**row._mapping) if row else None


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
    setting = password_setting(user_id, password_hash)
    connection.execute(setting.update, setting.values)


def password_setting(user_id: int | None, password_hash: str) -> Along:
    """What set_password runs, for a limit's lock to carry (shared.throttle.Along)."""
    return Along(_SET_PASSWORD, {"user_id": user_id, "password_hash": password_hash})


# Statements of the registration path built once: a request only binds values to them, which
# spares SQLAlchemy building and keying a new statement each time.
_SET_PASSWORD = (
    update(users)
    .where(users.c.id == bindparam("user_id"))
    .values(password_hash=bindparam("password_hash"))
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


def issue_code(
    connection: Connection,
    secret_key: str,
    *,
    user_id: int,
    purpose: str,
    ttl: int,
    now: datetime,
    first: bool = False,
) -> IssuedCode:
    """A new code for a user and purpose, written now; see fresh_code."""
    fresh = fresh_code(
        connection, secret_key, user_id=user_id, purpose=purpose, ttl=ttl, now=now, first=first
    )
    return write_code(connection, fresh)


def write_code(connection: Connection, fresh: FreshCode) -> IssuedCode:
    """Write a fresh code's row, without a message."""
    token_id: int = connection.execute(INSERT_TOKEN, fresh.row).scalar_one()
    return IssuedCode(token_id=token_id, code=fresh.code, expires_at=fresh.expires_at)


def fresh_code(
    connection: Connection,
    secret_key: str,
    *,
    user_id: int,
    purpose: str,
    ttl: int,
    now: datetime,
    first: bool = False,
) -> FreshCode:
    """A new code for a user and purpose, its row not yet written (shared.outbox.enqueue writes
    it with the code's message); older live codes and their unsent messages die now.

    `first` says the account was created in this transaction and so has no older codes.
    """
    if not first:
        _supersede(connection, user_id, purpose)
    code = new_code()
    expires_at = now + timedelta(seconds=ttl)
    row = {
        "user_id": user_id,
        "purpose": purpose,
        "code_hmac": code_hmac(secret_key, user_id, purpose, code),
        "status": CodeStatus.ACTIVE,
        "failed_attempts": 0,
        "created_at": now,
        "expires_at": expires_at,
    }
    return FreshCode(code=code, expires_at=expires_at, row=row)


def _supersede(connection: Connection, user_id: int, purpose: str) -> None:
    """End the user's live codes for `purpose` and cancel their unsent messages."""
    superseded = (
        connection.execute(
            update(verification_tokens)
            .where(
                verification_tokens.c.user_id == user_id,
                verification_tokens.c.purpose == purpose,
                verification_tokens.c.status == CodeStatus.ACTIVE,
            )
            .values(status=CodeStatus.SUPERSEDED)
            .returning(verification_tokens.c.id)
        )
        .scalars()
        .all()
    )
    cancel_messages(connection, superseded)


def use_code(
    connection: Connection,
    secret_keys: Sequence[str],
    *,
    user_id: int | None,
    purpose: str,
    code: str,
    now: datetime,
) -> bool:
    """Spend the user's live code if `code` is it; count a wrong try on that code otherwise.

    Both updates are conditional on the token still being active with tries left, so
    concurrent requests can neither use a code twice nor test more guesses than allowed.
    With no user, or no live code, the same statements run and match nothing: a wrong code
    costs the same time whether or not an account exists.
    """
    token = connection.execute(
        select(verification_tokens.c.id, verification_tokens.c.code_hmac)
        .where(
            verification_tokens.c.user_id == user_id,
            verification_tokens.c.purpose == purpose,
            verification_tokens.c.status == CodeStatus.ACTIVE,
            verification_tokens.c.expires_at > now,
        )
        .order_by(verification_tokens.c.id.desc())
        .limit(1)
    ).one_or_none()
    token_id = token.id if token is not None else _NO_TOKEN
    live = (
        (verification_tokens.c.id == token_id)
        & (verification_tokens.c.status == CodeStatus.ACTIVE)
        & (verification_tokens.c.failed_attempts < MAX_CODE_TRIES)
    )
    stored = token.code_hmac if token is not None else _NO_HMAC
    if code_matches(secret_keys, user_id or 0, purpose, code, stored) and token is not None:
        used = connection.execute(
            update(verification_tokens).where(live).values(status=CodeStatus.USED, used_at=now)
        )
        if used.rowcount == 1:
            cancel_messages(connection, [token_id])
        return used.rowcount == 1
    tries = connection.execute(
        update(verification_tokens)
        .where(live)
        .values(
            failed_attempts=verification_tokens.c.failed_attempts + 1,
            status=case(
                (verification_tokens.c.failed_attempts + 1 >= MAX_CODE_TRIES, CodeStatus.DEAD),
                else_=verification_tokens.c.status,
            ),
        )
        .returning(verification_tokens.c.failed_attempts)
    ).scalar_one_or_none()
    if tries is not None and tries >= MAX_CODE_TRIES:
        cancel_messages(connection, [token_id])
    return False


# What a wrong code is checked against when there is no live code: no token has this id, and
# no code has this HMAC.
_NO_TOKEN = -1
_NO_HMAC = "0" * 64


def requested_addresses(data: dict[str, Any]) -> list[str]:
    """The addresses a request names: its email and/or its phone."""
    return [data[field] for field in ("email", "phone") if data.get(field)]
