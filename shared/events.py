"""The application's lifecycle events: webhook outbox rows, written in the caller's transaction
so that an event exists exactly when the change it reports was committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from shared.accounts import User, user_by_id
from shared.messages import Dependencies
from shared.outbox import PURPOSES, WEBHOOK, enqueue, values_of
from shared.provider_pauses import Pause
from shared.secretbox import SecretBox
from shared.settings.config import Settings

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import EventType as EventType

# Every purpose a row can have: a message's, or a webhook row's event.
ALL_PURPOSES = (*PURPOSES, *values_of(EventType))


def emit(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    *,
    now: datetime,
    event: EventType,
    user_id: int,
    account: User | None = None,
    **details: Any,
) -> None:
    """Queue `event` about an account for WEBHOOK_URL; nothing when no URL is set.

    The body is the spec's `{type, timestamp, data: {user_id, email, email_proven, phone,
    phone_proven, …}}` (`account` as it is now), built now and kept as the row's parameters:
    it never holds a code, a password or a token. An erased account's event says only its id,
    and is tied to no user row (the row is gone).
    """
    if settings.webhook_url is None:
        return
    erased = event == EventType.ACCOUNT_ERASED
    data: dict[str, Any] = {"user_id": user_id}
    if not erased:
        data.update(
            email=account.email if account else None,
            email_proven=account.email_proven if account else False,
            phone=account.phone if account else None,
            phone_proven=account.phone_proven if account else False,
        )
    enqueue(
        connection,
        box,
        now=now,
        channel=WEBHOOK,
        purpose=event,
        recipient=WEBHOOK,
        locale="en",
        params={"type": event, "timestamp": rfc3339(now), "data": {**data, **details}},
        user_id=None if erased else user_id,
        expires_at=now + timedelta(seconds=settings.notice_ttl),
    )


class DeliveredMessage(Protocol):
    """What `delivery.failed` and `delivery.delivered` say of their message (a claimed row, a
    bounced one, one a receipt is about)."""

    @property
    def public_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def user_id(self) -> int | None: ...


def delivery_failed(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    message: DeliveredMessage,
    reason: str,
    *,
    now: datetime,
) -> None:
    """Tell the application that a message to its user will not arrive (`delivery.failed`);
    nothing for a message of no user."""
    _about(connection, settings, box, message, EventType.DELIVERY_FAILED, now=now, reason=reason)


def delivery_delivered(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    message: DeliveredMessage,
    *,
    now: datetime,
) -> None:
    """Tell the application that a provider's receipt said a message to its user arrived
    (`delivery.delivered`, at the event's `timestamp`); nothing for a message of no user.
    Clients are never shown it (shared/views.py): a withheld message never gets a receipt."""
    _about(connection, settings, box, message, EventType.DELIVERY_DELIVERED, now=now)


def _about(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    message: DeliveredMessage,
    event: EventType,
    *,
    now: datetime,
    **details: Any,
) -> None:
    """Queue `event` about a message to a user; nothing for a message of no user."""
    if message.user_id is None:
        return
    user = user_by_id(connection, message.user_id)
    emit(
        connection,
        settings,
        box,
        now=now,
        event=event,
        user_id=message.user_id,
        account=user,
        delivery_id=message.public_id,
        channel=message.channel,
        purpose=message.purpose,
        **details,
    )


def provider_changed(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    pause: Pause,
    event: EventType,
    *,
    now: datetime,
) -> None:
    """Tell the application that a provider has been down a while (`provider.down`: since when
    and why) or is back (`provider.up`: since when it was down); nothing without WEBHOOK_URL."""
    if settings.webhook_url is None:
        return
    data = {"provider": pause.provider, "since": rfc3339(pause.since)}
    if event == EventType.PROVIDER_DOWN:
        data["reason"] = pause.reason
    enqueue(
        connection,
        box,
        now=now,
        channel=WEBHOOK,
        purpose=event,
        recipient=WEBHOOK,
        locale="en",
        params={"type": event, "timestamp": rfc3339(now), "data": data},
        expires_at=now + timedelta(seconds=settings.notice_ttl),
    )


def rfc3339(moment: datetime) -> str:
    """`2026-11-22T12:00:00.123Z`: UTC, milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def announce(
    deps: Dependencies,
    connection: Connection,
    user: User,
    event: EventType,
    *,
    now: datetime,
    **details: Any,
) -> None:
    """Queue `event` about `user` for the application (nothing without WEBHOOK_URL)."""
    emit(
        connection,
        deps.settings,
        deps.box,
        now=now,
        event=event,
        user_id=user.id,
        account=user,
        **details,
    )
