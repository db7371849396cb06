"""Whether the application has heard of an account's activation: its `account.activated`
event answered `2xx` (SPEC "A sign-in that waits for provisioning")."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, or_, select

from shared.database.models import outbox
from shared.vocabulary import Channel, EventType, Status

# How long a refused sign-in is told to wait: no sooner than the relay's next try of the
# event, and never long past it; a dead event waits for an operator's `dead retry`.
SOONEST, LATEST, WHILE_DEAD = 5, 300, 60

# The account's `account.activated` events the application has not answered yet: on their way
# (pending), or dead and not dealt with (a discarded one is an operator's decision that the
# account goes on without it). Read through `outbox_user`: an account has a few rows.
_UNANSWERED = (
    select(outbox.c.status, outbox.c.next_attempt_at)
    .where(
        outbox.c.user_id == bindparam("user_id"),
        outbox.c.channel == Channel.WEBHOOK,
        outbox.c.purpose == EventType.ACCOUNT_ACTIVATED,
        or_(
            outbox.c.status == Status.PENDING,
            and_(outbox.c.status == Status.DEAD, outbox.c.resolution.is_(None)),
        ),
    )
    .order_by(outbox.c.id.desc())
    .limit(1)
)


def provisioning_wait(connection: Connection, user_id: int, now: datetime) -> int | None:
    """Seconds a sign-in of the account should wait while the application has not answered
    its `account.activated` event; None once it has (or when none was written: an account
    activated before WEBHOOK_URL was set)."""
    found = connection.execute(_UNANSWERED, {"user_id": user_id}).one_or_none()
    if found is None:
        return None
    if found.status == Status.DEAD:
        return WHILE_DEAD
    next_attempt: datetime = found.next_attempt_at
    until_next = math.ceil((next_attempt - now).total_seconds())
    return min(max(until_next, SOONEST), LATEST)
