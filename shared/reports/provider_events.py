"""What providers report after they said `250`: bounces, complaints, deliveries, matched to
our messages and acted on in one transaction.

A permanent bounce or a complaint marks the message `bounced` (its client sees `failed` /
`address_rejected`), suppresses the address and tells the application (`delivery.failed`); a
permanent bounce that does not refuse the address (an SMS receipt of an unreachable handset or
of carrier filtering) marks it `bounced` as `undeliverable`, suppressing nothing; a transient
bounce is only recorded with the message, and a delivery too, the first one of a message also
telling the application (`delivery.delivered`). A code whose message bounced refusing its address
goes on the account's other channel as when the relay meets the refusal
(shared/messaging/fallbacks.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.database.models import outbox, provider_events, provider_notifications
from shared.messaging.events import delivery_delivered, delivery_failed
from shared.messaging.fallbacks import after_report
from shared.messaging.messages import Queueing
from shared.messaging.outbox import ERASED, WEBHOOK, Channel, DeadReason, Purpose, Status
from shared.messaging.refusals import Refusal, failure_reason, suppression_of
from shared.messaging.suppressions import SuppressionReason
from shared.messaging.transitions import bounce
from shared.sms_providers.registry import RECEIVING

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import ProviderEventType as ProviderEventType

TYPES = tuple(kind.value for kind in ProviderEventType)
# The mail providers whose webhooks report (api_service/mail_reports, one reader each).
MAIL_REPORTERS = ("mailgun", "sendgrid", "postmark", "resend")
# Who reports: Outpost's own format, Amazon SES, reports by mail (shared.reports.mail_intake), each
# SMS provider that sends receipts, and each mail provider whose webhooks Outpost reads.
SOURCES = ("outpost", "ses", "mail", *(spec.name for spec in RECEIVING), *MAIL_REPORTERS)

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
    connection: Connection, events: list[ProviderEvent], *, deps: Queueing, now: datetime
) -> Recorded:
    """Match each event to its message and apply it, in the caller's transaction.

    A few statements a batch, however long: a provider posts up to 1,000 events at once, and
    a statement each would keep a loaded database's transaction past DATABASE_TIMEOUT."""
    messages = _find(connection, events)
    matched = [(event, row) for event in events if (row := _message_of(event, messages))]
    if not matched:
        return Recorded(accepted=0, unknown=len(events) + sum(e.others for e in events))
    receipts = {row.id for event, row in matched if event.type == ProviderEventType.DELIVERY}
    delivered = _delivered_before(connection, receipts)
    # After a message's first bounce or complaint with a given refusal, another changes
    # nothing: only those need their row's id (a suppression names it) before the next event.
    bounced: set[tuple[int, Refusal | None]] = set()
    unnamed: list[dict[str, Any]] = []
    for event, row in matched:
        values = {
            "outbox_id": row.id,
            "type": event.type,
            "permanent": event.permanent,
            "diagnostic": (event.diagnostic or "")[:1000] or None,
            "source": event.source,
            "at": now,
        }
        if event.type == ProviderEventType.DELIVERY and row.id not in delivered:
            delivered.add(row.id)
            delivery_delivered(connection, deps.settings, deps.box, row, now=now)
        fails = event.type == ProviderEventType.COMPLAINT or (
            event.type == ProviderEventType.BOUNCE and event.permanent
        )
        if not fails or (row.id, event.refusal) in bounced:
            unnamed.append(values)
            continue
        bounced.add((row.id, event.refusal))
        _insert_all(connection, unnamed)
        named = insert(provider_events).values(values).returning(provider_events.c.id)
        event_id = connection.execute(named).scalar_one()
        _bounce(connection, row, event, event_id, deps, now)
    _insert_all(connection, unnamed)
    others = sum(event.others for event in events)
    return Recorded(accepted=len(matched), unknown=len(events) - len(matched) + others)


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
    provider_message_id: str | None


def lookup(events: list[ProviderEvent]) -> Select[Any] | None:
    """The statement finding the messages the events are about; None if they name none.

    Public ids are written lower case (`str(uuid4())`) and `public_id_of` lowers the event's,
    so the column is compared as it is and its unique index finds the row (lower() of the
    column would read the whole outbox for every event).
    """
    public_ids = {public_id_of(e.message_id) for e in events if e.message_id} - {None}
    provider_ids = {e.provider_id for e in events if e.provider_id}
    ways = []
    if public_ids:
        ways.append(outbox.c.public_id.in_(sorted(public_ids)))
    if provider_ids:
        ways.append(outbox.c.provider_message_id.in_(sorted(provider_ids)))
    if not ways:
        return None
    return select(
        outbox.c.id,
        outbox.c.public_id,
        outbox.c.channel,
        outbox.c.purpose,
        outbox.c.recipient,
        outbox.c.status,
        outbox.c.user_id,
        outbox.c.provider_message_id,
    ).where(or_(*ways), outbox.c.channel != WEBHOOK)


def _find(connection: Connection, events: list[ProviderEvent]) -> dict[str, _Message]:
    """The messages the events name, by public id and by the provider's id."""
    statement = lookup(events)
    found = [] if statement is None else connection.execute(statement).all()
    messages = {}
    for columns in found:
        message = _Message(**columns._mapping)
        messages[message.public_id] = message
        if message.provider_message_id:
            messages[message.provider_message_id] = message
    return messages


def _message_of(event: ProviderEvent, messages: dict[str, _Message]) -> _Message | None:
    public_id = public_id_of(event.message_id) if event.message_id else None
    by_public_id = messages.get(public_id) if public_id else None
    return by_public_id or (messages.get(event.provider_id) if event.provider_id else None)


def _insert_all(connection: Connection, events: list[dict[str, Any]]) -> None:
    """Insert the events in one statement (executemany), and forget them."""
    if events:
        connection.execute(insert(provider_events), events)
        events.clear()


def _delivered_before(connection: Connection, ids: set[int]) -> set[int]:
    """Which of the messages `ids` a receipt said before had arrived. On PostgreSQL their rows
    are locked first (in id order), so that two receipts of one message recorded at once tell
    the application once."""
    if not ids:
        return set()
    if connection.dialect.name == "postgresql":
        hold = select(outbox.c.id).where(outbox.c.id.in_(sorted(ids))).order_by(outbox.c.id)
        connection.execute(hold.with_for_update())
    earlier = select(provider_events.c.outbox_id).where(
        provider_events.c.outbox_id.in_(sorted(ids)),
        provider_events.c.type == ProviderEventType.DELIVERY,
    )
    return set(connection.execute(earlier).scalars())


def _bounce(
    connection: Connection,
    row: _Message,
    event: ProviderEvent,
    event_id: int,
    deps: Queueing,
    now: datetime,
) -> None:
    """The message did not arrive after all: `bounced`, its address suppressed if the event
    refuses it, the application told, its code sent on the other channel if it refused the
    address (once: a second report of the same bounce changes nothing more).

    An erased account's message keeps no address, only a placeholder, which is never
    suppressed (its address, if suppressed before, stays so by its keyed hash). A bounce may
    come before the relay has written `sent`: a row a relay still holds is marked too, and
    keeps its claim, so that the relay's `sent` records the attempt and leaves it `bounced`
    (outbox_relay/store.py).
    """
    refusal = event.refusal
    suppression = suppression_of(refusal)
    if suppression is not None and row.recipient != ERASED:
        deps.suppressor.of(connection).add(
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
        delivery_failed(connection, deps.settings, deps.box, row, reason, now=now)
        after_report(deps, connection, row.id, refusal, now)
