"""Queueing the messages of the account flows: codes and notices, in the caller's transaction."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from shared.accounts import User, UserStatus, insert_user, issue_code
from shared.addresses import phone_region
from shared.config import Settings
from shared.outbox import Delivery, Purpose, enqueue
from shared.secretbox import SecretBox
from shared.suppressions import LazySuppressor
from shared.throttle import Throttle, code_tries, sms_region


class Dependencies(Protocol):
    """What queueing a message needs: the settings, the box sealing its secrets, the throttle
    and the suppression list's suppressor, each built once per process."""

    @property
    def settings(self) -> Settings: ...

    @property
    def box(self) -> SecretBox: ...

    @property
    def throttle(self) -> Throttle: ...

    @property
    def suppressor(self) -> LazySuppressor: ...


# Notices to an address the account has proven, which may greet the user by the name they gave;
# an unproven address gets no text a client chose (SPEC "Client text in messages").
GREETED = frozenset({Purpose.WELCOME, Purpose.PASSWORD_CHANGED})


def address_for(user: User, channel: str) -> str | None:
    """The user's address on a channel, if they have one."""
    return user.email if channel == "email" else user.phone


def email_or_sms(email: str | None) -> str:
    """The channel of an account's notices, or of a request's code: email when there is an
    email address, else SMS."""
    return "email" if email else "sms"


def send_code(
    deps: Dependencies,
    connection: Connection,
    user: User,
    *,
    purpose: str,
    channel: str,
    now: datetime,
    first: bool = False,
    asked_channel: str | None = None,
) -> Delivery:
    """Issue a fresh code for `purpose` (older ones die) and queue it to the user.

    `first` says the account was created in this transaction, so it has no older codes.
    """
    settings = deps.settings
    ttl = settings.code_ttl(purpose)
    issued = issue_code(
        connection,
        settings.secret_key,
        user_id=user.id,
        purpose=purpose,
        ttl=ttl,
        now=now,
        first=first,
    )
    return _queue(
        deps,
        connection,
        user,
        purpose=purpose,
        channel=channel,
        now=now,
        params={"expires_minutes": max(ttl // 60, 1)},
        secret_params={"code": issued.code},
        token_id=issued.token_id,
        expires_at=issued.expires_at,
        asked_channel=asked_channel,
    )


def restart_code_tries(
    deps: Dependencies, connection: Connection, user: User, *, purpose: str
) -> None:
    """Let the user's addresses try codes for `purpose` afresh, after an operator sent one.

    The public routes do the same when they let a message through (`limit_recipients`);
    without it, a code an operator sends to an account that used up its tries is refused.
    """
    addresses = [address for address in (user.email, user.phone) if address]
    deps.throttle.forget(connection, code_tries(purpose, addresses))


def send_code_unseen(
    deps: Dependencies,
    connection: Connection,
    user: User | None,
    *,
    purpose: str,
    channel: str,
    now: datetime,
) -> None:
    """Queue a code to `user`, or with no user do the same work and keep none of it.

    A stand-in account takes the code inside a savepoint that is then rolled back, so that the
    answer costs the same time whether or not an account would get a message (SPEC "No
    enumeration"); a notification raised in a rolled-back savepoint is never delivered.
    """
    savepoint = connection.begin_nested()
    try:
        target = user or _stand_in(connection, now)
        send_code(deps, connection, target, purpose=purpose, channel=channel, now=now)
    except BaseException:
        savepoint.rollback()
        raise
    if user is None:
        savepoint.rollback()
    else:
        savepoint.commit()


def _stand_in(connection: Connection, now: datetime) -> User:
    """A user with both kinds of address, seen only by the savepoint that inserts it.

    Its id is given, negative and random, rather than drawn: PostgreSQL's sequence keeps a
    value drawn by a rolled-back row, and the next account's id would show a client that the
    address it named had no account.
    """
    unique = secrets.token_hex(6)
    fields = {"email": f"{unique}@stand-in.invalid", "phone": f"+0{int(unique, 16)}"[:16]}
    user_id = insert_user(
        connection, now, id=-1 - secrets.randbits(62), password_hash="!", locale="en", **fields
    )
    if user_id is None:
        raise RuntimeError("a stand-in address was taken")
    return User(id=user_id, full_name=None, locale="en", status=UserStatus.PENDING, **fields)


def send_notice(
    deps: Dependencies,
    connection: Connection,
    user: User,
    *,
    purpose: str,
    now: datetime,
    channel: str | None = None,
    asked_channel: str | None = None,
) -> Delivery:
    """Queue a notice that carries no secret, retried until NOTICE_TTL from now."""
    return _queue(
        deps,
        connection,
        user,
        purpose=purpose,
        channel=channel or email_or_sms(user.email),
        now=now,
        params=_notice_params(user, purpose, now),
        expires_at=now + timedelta(seconds=deps.settings.notice_ttl),
        asked_channel=asked_channel,
    )


def _notice_params(user: User, purpose: str, now: datetime) -> dict[str, Any]:
    """A greeting by name where the address is proven; the moment a password changed."""
    params: dict[str, Any] = {"full_name": user.full_name} if purpose in GREETED else {}
    if purpose == Purpose.PASSWORD_CHANGED:
        params["changed_at"] = now.strftime("%Y-%m-%d %H:%M UTC")
    return params


def _queue(
    deps: Dependencies,
    connection: Connection,
    user: User,
    *,
    purpose: str,
    channel: str,
    now: datetime,
    params: dict[str, Any] | None = None,
    **code: Any,
) -> Delivery:
    recipient = address_for(user, channel)
    if recipient is None:
        raise ValueError(f"user has no {channel} address")
    if channel == "sms" and deps.settings.sms_region_hourly_limit is not None:
        # Every SMS counts against its region's hour, whoever queues it; the public routes
        # check the count first (api_service/flows/limits.py), under the same lock.
        subject = sms_region(phone_region(recipient))
        deps.throttle.record(connection, [subject], now)
    return enqueue(
        connection,
        deps.box,
        now=now,
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        recipient_hash=deps.suppressor.of(connection).hash(recipient),
        locale=user.locale,
        params=params or {},
        user_id=user.id,
        **code,
    )
