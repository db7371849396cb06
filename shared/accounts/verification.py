"""SQL for verification codes (a code's row, superseding older ones, spending or counting a
wrong try), run inside the caller's unit of work; the plaintext lives only in memory and in
the encrypted outbox row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, case, select, update

from shared.database.models import outbox, verification_tokens
from shared.messaging.outbox import INSERT_TOKEN
from shared.messaging.transitions import cancel_messages
from shared.secrets.codes import (
    MAX_CODE_TRIES,
    CodeStatus,
    code_hmac,
    code_matches,
    new_code,
    new_link_token,
)
from shared.vocabulary import Purpose


@dataclass(frozen=True)
class FreshCode:
    """A code not yet written: its plaintext, its link token's (None: its mail has no link
    token), its expiry and its token's row."""

    code: str
    link_token: str | None
    expires_at: datetime
    row: dict[str, Any]

    @property
    def sealed(self) -> dict[str, str]:
        """What its message carries sealed: the code, and its link token if it has one."""
        return {"code": self.code, **({"token": self.link_token} if self.link_token else {})}


@dataclass(frozen=True)
class IssuedCode:
    """A fresh code: its plaintext lives only in memory and in the encrypted outbox row."""

    token_id: int
    code: str
    expires_at: datetime


def issue_code(
    connection: Connection,
    secret_key: str,
    *,
    user_id: int,
    purpose: Purpose,
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
    purpose: Purpose,
    ttl: int,
    now: datetime,
    first: bool = False,
    address: str | None = None,
    link: bool = False,
) -> FreshCode:
    """A new code for a user and purpose, its row not yet written (shared.messaging.outbox.enqueue
    writes it with the code's message); older live codes and their unsent messages die now.

    `first` says the account was created in this transaction and so has no older codes.
    `address`: the one address the code proves (an address change's), if it is bound to one.
    `link`: the code gets a link token too, which its mail's link carries.
    """
    if not first:
        supersede(connection, user_id, purpose)
    code = new_code()
    link_token = new_link_token() if link else None
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
    if address is not None:
        # Named only when set, as most codes have none.
        row["address"] = address
    if link_token is not None:
        row["link_hmac"] = code_hmac(secret_key, user_id, purpose, link_token)
    return FreshCode(code=code, link_token=link_token, expires_at=expires_at, row=row)


def supersede(connection: Connection, user_id: int, purpose: Purpose) -> None:
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
    purpose: Purpose,
    code: str | None,
    now: datetime,
    address: str | None = None,
    link_token: str | None = None,
) -> int | None:
    """Spend the user's live code if `code` is it (or `link_token` its link token), and return
    its id; count a wrong try on the live codes otherwise (None).

    `address`: what a code bound to an address (shared.messaging.outbox.BOUND_TO_ADDRESS) must have
    been sent to; a code sent elsewhere is no code for it. A code and its fallback on the other
    channel (SPEC "The other channel when a code cannot arrive") are both live: either is
    spent, which ends the other.

    Both updates are conditional on the token still being active (and a code's, with tries
    left), so concurrent requests can neither use a code twice nor test more guesses than
    allowed. With no user, or no live code, the same statements run and match nothing: a wrong
    code costs the same time whether or not an account exists. A code with a link token is
    never killed by wrong tries: past them only its token is taken, so that someone guessing
    at the six digits cannot keep the mail's holder from using it. A wrong link token counts
    nothing: 192 random bits are not guessed.
    """
    found = connection.execute(_live_codes(user_id, purpose, now, address)).all()
    entered = link_token if link_token is not None else code or ""
    spent = _matching(secret_keys, user_id or 0, purpose, entered, found, link_token is not None)
    ids = [token.id for token in found] or [_NO_TOKEN]
    live = verification_tokens.c.status == CodeStatus.ACTIVE
    guessable = live & (verification_tokens.c.failed_attempts < MAX_CODE_TRIES)
    if spent is not None:
        condition = live if link_token is not None else guessable
        used = connection.execute(
            update(verification_tokens)
            .where(verification_tokens.c.id == spent, condition)
            .values(status=CodeStatus.USED, used_at=now)
        )
        if used.rowcount != 1:
            return None
        cancel_messages(connection, [spent])
        if len(found) > 1:
            supersede(connection, user_id or 0, purpose)
        return spent
    if link_token is None:
        _count_wrong_try(connection, guessable & verification_tokens.c.id.in_(ids))
    return None


def _matching(
    secret_keys: Sequence[str],
    user_id: int,
    purpose: Purpose,
    entered: str,
    found: Sequence[Any],
    link: bool,
) -> int | None:
    """The id of the live code (of `found`) that `entered` is, or whose link token it is.

    As many codes are checked whatever is found (_LIVE), each against every key: a wrong code
    costs the same whether or not an account, or a fallback, exists.
    """
    spent = None
    for n in range(_LIVE):
        token = found[n] if n < len(found) else None
        stored = (token.link_hmac if link else token.code_hmac) if token is not None else None
        if code_matches(secret_keys, user_id, purpose, entered, stored or _NO_HMAC):
            spent = token.id if token is not None and spent is None else spent
    return spent


def _count_wrong_try(connection: Connection, guessable: Any) -> None:
    """One more wrong try on the live codes; the last kills each (and its unsent message)
    unless it has a link token."""
    tries = verification_tokens.c.failed_attempts + 1
    dies = (tries >= MAX_CODE_TRIES) & verification_tokens.c.link_hmac.is_(None)
    counted = connection.execute(
        update(verification_tokens)
        .where(guessable)
        .values(
            failed_attempts=tries,
            status=case((dies, CodeStatus.DEAD), else_=verification_tokens.c.status),
        )
        .returning(verification_tokens.c.id, verification_tokens.c.status)
    ).all()
    dead = [token.id for token in counted if token.status == CodeStatus.DEAD]
    if dead:
        cancel_messages(connection, dead)


def sent_to(connection: Connection, token_id: int) -> str | None:
    """The address the code `token_id` was sent to (its newest message's recipient)."""
    found: str | None = connection.execute(
        select(outbox.c.recipient)
        .where(outbox.c.token_id == token_id)
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found


def _live_codes(
    user_id: int | None, purpose: Purpose, now: datetime, address: str | None
) -> Select[Any]:
    """The user's newest live codes for `purpose` (sent to `address`, if given): a code, and
    its fallback if it has one."""
    live = (
        select(
            verification_tokens.c.id,
            verification_tokens.c.code_hmac,
            verification_tokens.c.link_hmac,
        )
        .where(
            verification_tokens.c.user_id == user_id,
            verification_tokens.c.purpose == purpose,
            verification_tokens.c.status == CodeStatus.ACTIVE,
            verification_tokens.c.expires_at > now,
        )
        .order_by(verification_tokens.c.id.desc())
        .limit(_LIVE)
    )
    return live if address is None else live.where(verification_tokens.c.address == address)


# The live codes a user may hold for one purpose: a code and its fallback.
_LIVE = 2
# What a wrong code is checked against when there is no live code: no token has this id, and
# no code has this HMAC.
_NO_TOKEN = -1
_NO_HMAC = "0" * 64
