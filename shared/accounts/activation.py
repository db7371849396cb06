"""What follows an activation, whichever way it came (its code, an address change's code, an
operator's confirmation): the welcome, `account.activated`, and the account's history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from shared.accounts.accounts import User
from shared.accounts.history import AccountEvent, record
from shared.messaging.causes import Cause
from shared.messaging.events import EventType, announce
from shared.messaging.messages import Queueing, send_notice
from shared.messaging.outbox import Purpose


def follow_activation(
    deps: Queueing,
    connection: Connection,
    user: User,
    *,
    cause: Cause | None,
    now: datetime,
    client: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> None:
    """Welcome the user just activated (as `cause` admits it), tell the application, and add
    `activated` (with the client and `detail` of how) to its history, in the activation's
    transaction."""
    send_notice(deps, connection, user, cause=cause, purpose=Purpose.WELCOME, now=now)
    announce(deps, connection, user, EventType.ACCOUNT_ACTIVATED, now=now)
    record(connection, user.id, AccountEvent.ACTIVATED, now=now, client=client, detail=detail)
