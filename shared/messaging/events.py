"""The application's lifecycle events: webhook outbox rows, written in the caller's transaction
so that an event exists exactly when the change it reports was committed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from shared.accounts.accounts import User, user_by_id
from shared.messaging.messages import Queueing
from shared.messaging.outbox import PURPOSES, WEBHOOK, enqueue, values_of
from shared.messaging.provider_pauses import Pause
from shared.messaging.webhook_endpoints import row_secrets, subscribers
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import EventType as EventType

# Every purpose a row can have: a message's, or a webhook row's event.
ALL_PURPOSES = (*PURPOSES, *values_of(EventType))


# Events only the endpoints that list them hear of (SPEC "Webhook endpoints"): WEBHOOK_URL
# hears of every other.
ENDPOINTS_ONLY = (EventType.DELIVERY_SENT, EventType.DELIVERY_DELIVERED)
# Where an event goes: a recipient (`webhook`: WEBHOOK_URL; else an endpoint's id) and what its
# row carries sealed (an endpoint's URL and secret).
Target = tuple[str, dict[str, Any] | None]


def targets(
    connection: Connection, settings: Settings, box: SecretBox, event: EventType
) -> list[Target]:
    """WEBHOOK_URL, when set and `event` is its, and every endpoint subscribed to `event`."""
    found: list[Target] = []
    if settings.webhook_url is not None and event not in ENDPOINTS_ONLY:
        found.append((WEBHOOK, None))
    found += [(s.id, row_secrets(box, s)) for s in subscribers(connection, event)]
    return found


def emit(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    *,
    now: datetime,
    event: EventType,
    user_id: int,
    account: User | None = None,
    to: list[Target] | None = None,
    **details: Any,
) -> None:
    """Queue `event` about an account, one row for each of its targets (`to`, else asked
    now); nothing when it has none.

    The body is the spec's `{type, timestamp, data: {user_id, email, email_proven, phone,
    phone_proven, …}}` (`account` as it is now), built now and kept as the row's parameters:
    it never holds a code, a password or a token. An erased account's event says only its id,
    and is tied to no user row (the row is gone).
    """
    to = targets(connection, settings, box, event) if to is None else to
    if not to:
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
    body = {"type": event, "timestamp": rfc3339(now), "data": {**data, **details}}
    for recipient, sealed in to:
        enqueue(
            connection,
            box,
            now=now,
            channel=WEBHOOK,
            purpose=event,
            recipient=recipient,
            locale="en",
            params=body,
            secret_params=sealed,
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
    Clients are never shown it (shared/messaging/views.py): a withheld message never gets a
    receipt."""
    _about(connection, settings, box, message, EventType.DELIVERY_DELIVERED, now=now)


def deliveries_sent(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    messages: Iterable[DeliveredMessage],
    *,
    now: datetime,
) -> None:
    """Tell the endpoints subscribed to `delivery.sent` that a provider took these messages
    (the relay marked them sent), those to a user each; the endpoints read once."""
    to = targets(connection, settings, box, EventType.DELIVERY_SENT)
    for message in messages if to else ():
        _about(connection, settings, box, message, EventType.DELIVERY_SENT, now=now, to=to)


def _about(
    connection: Connection,
    settings: Settings,
    box: SecretBox,
    message: DeliveredMessage,
    event: EventType,
    *,
    now: datetime,
    to: list[Target] | None = None,
    **details: Any,
) -> None:
    """Queue `event` about a message to a user for its targets (`to`, else asked now);
    nothing for a message of no user, or for an event with no target (the account then not
    read)."""
    if message.user_id is None:
        return
    to = targets(connection, settings, box, event) if to is None else to
    if not to:
        return
    emit(
        connection,
        settings,
        box,
        now=now,
        event=event,
        user_id=message.user_id,
        account=user_by_id(connection, message.user_id),
        to=to,
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
    deps: Queueing,
    connection: Connection,
    user: User,
    event: EventType,
    *,
    now: datetime,
    **details: Any,
) -> None:
    """Queue `event` about `user` for the application (nothing without a target)."""
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
