"""SQL for users and their verification codes, run inside the caller's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.codes import code_hmac, new_code
from shared.models import outbox, users, verification_tokens


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
class IssuedCode:
    """A fresh code: its plaintext lives only in memory and in the encrypted outbox row."""

    token_id: int
    code: str
    expires_at: datetime


def find_user(connection: Connection, email: str | None, phone: str | None) -> User | None:
    """The user owning either address, if any."""
    conditions = []
    if email is not None:
        conditions.append(users.c.email == email)
    if phone is not None:
        conditions.append(users.c.phone == phone)
    row = connection.execute(
        select(
            users.c.id,
            users.c.email,
            users.c.phone,
            users.c.full_name,
            users.c.locale,
            users.c.status,
        )
        .where(or_(*conditions))
        .order_by(users.c.id)
        .limit(1)
    ).one_or_none()
    return User(**row._mapping) if row else None


def insert_user(connection: Connection, now: datetime, **values: Any) -> int | None:
    """Insert a pending user; None when one of its addresses is already taken."""
    try:
        with connection.begin_nested():
            result = connection.execute(
                insert(users)
                .values(status="pending", created_at=now, **values)
                .returning(users.c.id)
            )
            user_id: int = result.scalar_one()
    except IntegrityError:
        return None
    return user_id


def issue_code(
    connection: Connection,
    secret_key: str,
    *,
    user_id: int,
    purpose: str,
    ttl: int,
    now: datetime,
) -> IssuedCode:
    """A new code for a user and purpose; older live codes and their unsent messages die."""
    superseded = (
        connection.execute(
            update(verification_tokens)
            .where(
                verification_tokens.c.user_id == user_id,
                verification_tokens.c.purpose == purpose,
                verification_tokens.c.status == "active",
            )
            .values(status="superseded")
            .returning(verification_tokens.c.id)
        )
        .scalars()
        .all()
    )
    if superseded:
        connection.execute(
            update(outbox)
            .where(outbox.c.token_id.in_(superseded), outbox.c.status == "pending")
            .values(status="cancelled", secret_params=None, locked_until=None, claim_token=None)
        )
    code = new_code()
    expires_at = now + timedelta(seconds=ttl)
    token_id: int = connection.execute(
        insert(verification_tokens)
        .values(
            user_id=user_id,
            purpose=purpose,
            code_hmac=code_hmac(secret_key, user_id, purpose, code),
            status="active",
            failed_attempts=0,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(verification_tokens.c.id)
    ).scalar_one()
    return IssuedCode(token_id=token_id, code=code, expires_at=expires_at)
