"""What providers report after they said `250`: bounces, complaints, deliveries, matched to
our messages and acted on in one transaction.

A permanent bounce or a complaint marks the message `bounced` (its client sees `failed` /
`address_rejected`), suppresses the address and tells the application (`delivery.failed`); a
permanent bounce that does not refuse the address (an SMS receipt of an unreachable handset or
of carrier filtering) marks it `bounced` as `undeliverable`, suppressing nothing; a transient
bounce is only recorded with the message, and a delivery too, the first one of a message also
telling the application (`delivery.delivered`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.events import delivery_delivered, delivery_failed
from shared.models import outbox, provider_events, provider_notifications
from shared.outbox import ERASED, WEBHOOK, Channel, DeadReason, Purpose, Status
from shared.refusals import Refusal, failure_reason, suppression_of
from shared.secretbox import SecretBox
from shared.settings.config import Settings
from shared.sms_providers.registry import RECEIVING
from shared.suppressions import SuppressionReason, Suppressor
from shared.transitions import bounce

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import ProviderEventType as ProviderEventType

TYPES = tuple(kind.value for kind in ProviderEventType)
# Who reports: Outpost's own format, Amazon SES, and each SMS provider that sends receipts.
SOURCES = ("outpost", "ses", *(spec.name for spec in RECEIVING))

# Whether a message already has a receipt that said it arrived.
_DELIVERED = (
    select(provider_events.c.id)
    .where(
        provider_events.c.outbox_id == bindparam("outbox_id"),
        provider_events.c.type == ProviderEventType.DELIVERY,
    )
    .limit(1)
)
# A message's row, locked until the transaction ends (PostgreSQL).
_HOLD = select(outbox.c.id).where(outbox.c.id == bindparam("outbox_id")).with_for_update()

# A public id at the start of a Message-ID's local part, or a delivery id alone.
_PUBLIC_ID = re.compile(
    r"^<?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(@[^>]*)?>?$"
)


@dataclass(frozen=True)
class ProviderEvent:
    """One event about one message and recipient, as a provider reported it.

    `message_id` is the Message-ID Outpost sent or the delivery id; `provider_id` the
    provider's own id of the message (SES's `mail.messageId`). Either finds the message.
    `others`: the recipients the same report named beside this one, none of them a message of
    ours (Outpost sends each message to one recipient), counted as unknown.
    `address_refused`: whether a permanent bounce is the address's fault (suppressed,
    `address_rejected`) or only this message's (`undeliverable`).
    """

    type: ProviderEventType
    permanent: bool
    source: str
    recipient: str | None = None
    diagnostic: str | None = None
    message_id: str | None = None
    provider_id: str | None = None
    others: int = 0
    address_refused: bool = True

    @property
    def refusal(self) -> Refusal | None:
        """What the report refuses beyond the message: a complaint its recipient, a permanent
        bounce the address (unless the provider says only this message failed)."""
        if self.type == ProviderEventType.COMPLAINT:
            return Refusal.COMPLAINT
        if self.type == ProviderEventType.BOUNCE and self.permanent and self.address_refused:
            return Refusal.HARD_BOUNCE
        return None


@dataclass(frozen=True)
class Recorded:
    """How many events found their message, and how many did not."""

    accepted: int
    unknown: int


def public_id_of(message_id: str) -> str | None:
    """The delivery id inside a Message-ID (`<id@domain>`, with or without `<>`, any case)."""
    match = _PUBLIC_ID.match(message_id.strip().lower())
    return match.group(1) if match else None


def first_seen(connection: Connection, source: str, notification_id: str, now: datetime) -> bool:
    """Whether this is the first time the provider's notification `notification_id` arrives,
    remembering it: a retry (SNS posts a notification again until it sees a 2xx) is not.

    On PostgreSQL a retry arriving while the first is being recorded waits for it on the
    primary key, and then records nothing."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(provider_notifications).values(
        source=source, notification_id=notification_id, received_at=now
    )
    kept = statement.on_conflict_do_nothing().returning(provider_notifications.c.source)
    return connection.execute(kept).first() is not None


def record(
    connection: Connection,
    events: list[ProviderEvent],
    *,
    settings: Settings,
    box: SecretBox,
    suppressor: Suppressor,
    now: datetime,
) -> Recorded:
    """Match each event to its message and apply it, in the caller's transaction."""
    accepted = 0
    for event in events:
        row = _find(connection, event)
        if row is None:
            continue
        accepted += 1
        arrived = event.type == ProviderEventType.DELIVERY and _first_delivery(connection, row)
        event_id = connection.execute(
            insert(provider_events)
            .values(
                outbox_id=row.id,
                type=event.type,
                permanent=event.permanent,
                diagnostic=(event.diagnostic or "")[:1000] or None,
                source=event.source,
                at=now,
            )
            .returning(provider_events.c.id)
        ).scalar_one()
        if event.type == ProviderEventType.COMPLAINT or (
            event.type == ProviderEventType.BOUNCE and event.permanent
        ):
            _bounce(connection, row, event, event_id, settings, box, suppressor, now)
        if arrived:
            delivery_delivered(connection, settings, box, row, now=now)
    others = sum(event.others for event in events)
    return Recorded(accepted=accepted, unknown=len(events) - accepted + others)


@dataclass(frozen=True)
class _Message:
    """The columns of the message an event is about."""

    id: int
    public_id: str
    channel: Channel
    purpose: Purpose
    recipient: str
    status: Status
    user_id: int | None


def lookup(event: ProviderEvent) -> Select[Any] | None:
    """The statement finding the message an event is about; None if the event names none.

    Public ids are written lower case (`str(uuid4())`) and `public_id_of` lowers the event's,
    so the column is compared as it is and its unique index finds the row (lower() of the
    column would read the whole outbox for every event).
    """
    ways = []
    public_id = public_id_of(event.message_id) if event.message_id else None
    if public_id is not None:
        ways.append(outbox.c.public_id == public_id)
    if event.provider_id:
        ways.append(outbox.c.provider_message_id == event.provider_id)
    if not ways:
        return None
    return (
        select(
            outbox.c.id,
            outbox.c.public_id,
            outbox.c.channel,
            outbox.c.purpose,
            outbox.c.recipient,
            outbox.c.status,
            outbox.c.user_id,
        )
        .where(or_(*ways), outbox.c.channel != WEBHOOK)
        .limit(1)
    )


def _find(connection: Connection, event: ProviderEvent) -> _Message | None:
    statement = lookup(event)
    found = None if statement is None else connection.execute(statement).first()
    return None if found is None else _Message(**found._mapping)


def _first_delivery(connection: Connection, row: _Message) -> bool:
    """Whether no receipt said before that `row` arrived. On PostgreSQL its row is locked
    first, so that two receipts of one message recorded at once tell the application once."""
    if connection.dialect.name == "postgresql":
        connection.execute(_HOLD, {"outbox_id": row.id})
    return connection.execute(_DELIVERED, {"outbox_id": row.id}).first() is None


def _bounce(
    connection: Connection,
    row: _Message,
    event: ProviderEvent,
    event_id: int,
    settings: Settings,
    box: SecretBox,
    suppressor: Suppressor,
    now: datetime,
) -> None:
    """The message did not arrive after all: `bounced`, its address suppressed if the event
    refuses it, the application told (once: a second report of the same bounce changes nothing
    more).

    An erased account's message keeps no address, only a placeholder, which is never
    suppressed (its address, if suppressed before, stays so by its keyed hash). A bounce may
    come before the relay has written `sent`: a row a relay still holds is marked too, and
    keeps its claim, so that the relay's `sent` records the attempt and leaves it `bounced`
    (outbox_relay/store.py).
    """
    refusal = event.refusal
    suppression = suppression_of(refusal)
    if suppression is not None and row.recipient != ERASED:
        suppressor.add(
            connection,
            row.recipient,
            reason=suppression,
            source=event.source,
            now=now,
            event_id=event_id,
        )
    complained = event.type == ProviderEventType.COMPLAINT
    said = SuppressionReason.COMPLAINT if complained else SuppressionReason.HARD_BOUNCE
    error = (event.diagnostic or said)[:500]
    dead_reason = None if refusal is not None else DeadReason.PERMANENT_ERROR
    if bounce(connection, row.id, error, now, dead_reason, refusal):
        reason = failure_reason(Status.BOUNCED, dead_reason, refusal)
        delivery_failed(connection, settings, box, row, reason, now=now)
