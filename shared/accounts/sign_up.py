"""A new pending account's start, for a registration and an operator's invitation alike: its
first activation code queued, and the application told (`account.registered`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.accounts.accounts import User
from shared.messaging.causes import Cause
from shared.messaging.events import EventType, announce
from shared.messaging.messages import Queueing, send_code
from shared.messaging.outbox import Delivery, Purpose
from shared.vocabulary import Channel

# Not an argon2 hash, so no password verifies against it (the locked-account mark of crypt(3)):
# a registration's account until its hash is stored, an invited one until it is activated
# with a password.
NO_PASSWORD_YET = "!"


def first_activation(
    deps: Queueing,
    connection: Connection,
    user: User,
    *,
    cause: Cause | None,
    channel: Channel,
    now: datetime,
) -> Delivery:
    """Queue the first activation code of `user`, an account created in this transaction, on
    `channel` as `cause` admits it, and announce the account to the application."""
    delivery = send_code(
        deps,
        connection,
        user,
        cause=cause,
        purpose=Purpose.ACTIVATION,
        channel=channel,
        now=now,
        first=True,
    )
    announce(deps, connection, user, EventType.ACCOUNT_REGISTERED, now=now)
    return delivery
