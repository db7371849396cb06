"""Answering alike whether or not an account owns an address: a code to the account, or one
issued to a stand-in account, thrown away, and a notice instead (SPEC "No enumeration")."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from shared.accounts.accounts import User, UserStatus, insert_user
from shared.accounts.verification import write_code
from shared.messaging.causes import Cause
from shared.messaging.messages import Queueing, fresh_for, send_code
from shared.messaging.outbox import Delivery
from shared.vocabulary import Channel, Purpose


def send_code_or_notice(
    deps: Queueing,
    connection: Connection,
    user: User | None,
    *,
    cause: Cause,
    purpose: Purpose,
    channel: Channel,
    now: datetime,
    asked_channel: Channel,
    notice: Callable[[], Delivery],
    answers_as: Purpose | None = None,
) -> Delivery:
    """Queue a code for `purpose` to `user` as `cause` admits it (read by its client as a code
    of `answers_as`, if given); with no user, issue one to nobody, keep none of it, and queue
    the `notice` instead.

    A stand-in account takes that code inside a savepoint that is then rolled back, so that
    the answer costs the same time whether a code or a notice goes (SPEC "No
    enumeration"); a notification raised in a rolled-back savepoint is never delivered.
    """
    savepoint = connection.begin_nested()
    try:
        if user is None:
            stand_in = _stand_in(connection, now)
            # The same work as a real code's, its link token included (SPEC "No enumeration").
            fresh = fresh_for(
                deps, connection, stand_in, purpose=purpose, now=now, first=False, channel=channel
            )
            write_code(connection, fresh)
        else:
            delivery = send_code(
                deps,
                connection,
                user,
                cause=cause,
                purpose=purpose,
                channel=channel,
                now=now,
                asked_channel=asked_channel,
                answers_as=answers_as,
            )
    except BaseException:
        savepoint.rollback()
        raise
    if user is not None:
        savepoint.commit()
        return delivery
    savepoint.rollback()
    return notice()


def _stand_in(connection: Connection, now: datetime) -> User:
    """A user with both kinds of address, seen only by the savepoint that inserts it.

    Its id is given, negative and random, rather than drawn: PostgreSQL's sequence keeps a
    value drawn by a rolled-back row, and the next account's id would show a client that the
    address it named had no account.
    """
    unique = secrets.token_hex(6)
    email, phone = f"{unique}@stand-in.invalid", f"+0{int(unique, 16)}"[:16]
    user_id = insert_user(
        connection,
        now,
        id=-1 - secrets.randbits(62),
        password_hash="!",
        locale="en",
        email=email,
        phone=phone,
    )
    if user_id is None:
        raise RuntimeError("a stand-in address was taken")
    return User(
        id=user_id, email=email, phone=phone, full_name=None, locale="en", status=UserStatus.PENDING
    )
