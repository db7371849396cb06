"""What a client is shown of a message, read in one place: the few statuses of
GET /v1/deliveries/{id} and of every answer that queues one, whatever the row's own status, why it
failed or waits, and when it is tried next. Never when a provider's receipt said it arrived: a
withheld message never gets one, so a client that saw it could tell an address that holds an
account from one that does not (operators see it, and applications get `delivery.delivered`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from shared.database.models import outbox, outbox_attempts
from shared.messaging.outbox import (
    DISCREET,
    WEBHOOK,
    AttemptOutcome,
    Channel,
    ClientStatus,
    DeadReason,
    Purpose,
    Status,
)
from shared.messaging.provider_pauses import held
from shared.messaging.refusals import FailureReason, failure_reason


@dataclass(frozen=True)
class Fallback:
    """The message that carries a delivery's code on the account's other channel."""

    id: str
    channel: Channel


@dataclass(frozen=True)
class DeliveryView:
    """A message as its client may see it; `recipient`, `purpose` and `params` for the route
    to say when a new code may be asked for."""

    id: str
    channel: Channel
    purpose: Purpose
    recipient: str
    params: dict[str, Any]
    status: ClientStatus
    attempts: int
    reason: FailureReason | WaitingReason | None
    next_attempt_after: int | None
    fallback: Fallback | None = None


def delivery_view(
    connection: Connection,
    public_id: str,
    now: datetime,
    providers: Mapping[Channel, Sequence[str]],
) -> DeliveryView | None:
    """The delivery `public_id` (never an event's), None when there is none; `providers`: those
    of each channel (shared.messaging.provider_pauses.providers_of)."""
    row = connection.execute(
        _DELIVERY.where(outbox.c.public_id == public_id, outbox.c.channel != WEBHOOK)
    ).one_or_none()
    if row is None:
        return None
    params = row.params or {}
    status = client_status(row.status, row.dead_reason)
    attempts = row.attempts
    reason: FailureReason | WaitingReason | None = None
    due_in = None
    fallback = None
    if params.get(DISCREET):
        # Shown as a withheld message shows: queued (waiting for a paused provider, as every
        # message of its channel does) until tried, then sent once; never a retry, a failure
        # or a cancellation by a newer code, which only a real send can meet.
        queued = status == ClientStatus.QUEUED
        status = ClientStatus.QUEUED if queued else ClientStatus.SENT
        attempts = 0 if queued else 1
        if queued:
            reason = _waiting_reason(connection, providers.get(row.channel, ()), row.channel, now)
    else:
        fallback = _fallback(row.channel, row.fallback_id)
        if status == ClientStatus.FAILED:
            reason = failure_reason(row.status, row.dead_reason, row.refusal)
        elif status == ClientStatus.QUEUED:
            waiting = providers.get(row.channel, ())
            reason = _waiting_reason(connection, waiting, row.channel, now)
            due_in = _next_attempt_after(row.next_attempt_at, row.locked_until, now)
    return DeliveryView(
        id=row.public_id,
        channel=row.channel,
        purpose=row.purpose,
        recipient=row.recipient,
        params=params,
        status=status,
        attempts=attempts,
        reason=reason,
        next_attempt_after=due_in,
        fallback=fallback,
    )


def _fallback(channel: Channel, fallback_id: str | None) -> Fallback | None:
    """The fallback a message's code had on the other channel, if one was sent (shown to a
    request whose answer may tell an account: a discreet one's is not, as a withheld message
    has none)."""
    if fallback_id is None:
        return None
    return Fallback(fallback_id, Channel.SMS if channel == Channel.EMAIL else Channel.EMAIL)


def client_status(status: Status, dead_reason: DeadReason | None) -> ClientStatus:
    """The status a client sees of a row's: a withheld message was, to its client, sent."""
    if status == Status.PENDING:
        return ClientStatus.QUEUED
    if status == Status.DEAD:
        return ClientStatus.EXPIRED if dead_reason == DeadReason.EXPIRED else ClientStatus.FAILED
    if status == Status.BOUNCED:
        return ClientStatus.FAILED
    if status == Status.WITHHELD:
        return ClientStatus.SENT
    return ClientStatus(status)


_DELIVERY = select(
    outbox.c.public_id,
    outbox.c.channel,
    outbox.c.purpose,
    outbox.c.recipient,
    outbox.c.status,
    outbox.c.dead_reason,
    outbox.c.refusal,
    outbox.c.attempts,
    outbox.c.params,
    outbox.c.next_attempt_at,
    outbox.c.locked_until,
    outbox.c.fallback_id,
)

# The outcome of the newest attempt on a channel, whatever its message: the relay records a
# paused provider's failure as `provider_down` and sends nothing more on the channel until the
# provider answers, so while it is the newest, the channel's messages wait for their provider.
_NEWEST_OUTCOME = (
    select(outbox_attempts.c.outcome)
    .join(outbox, outbox.c.id == outbox_attempts.c.outbox_id)
    .order_by(outbox_attempts.c.attempted_at.desc(), outbox_attempts.c.id.desc())
    .limit(1)
)


class WaitingReason(StrEnum):
    """Why a queued message waits, as its client is told."""

    PROVIDER_UNAVAILABLE = "provider_unavailable"  # its provider is paused


def _waiting_reason(
    connection: Connection, providers: Sequence[str], channel: Channel, now: datetime
) -> WaitingReason | None:
    """Why a queued message waits: `provider_unavailable` while its provider is paused, by a
    relay (its newest attempt says so) or by an operator (every provider of its channel held)."""
    newest = connection.execute(_NEWEST_OUTCOME.where(outbox.c.channel == channel))
    paused = newest.scalar_one_or_none() == AttemptOutcome.PROVIDER_DOWN
    paused = paused or (bool(providers) and set(providers) <= held(connection, now))
    return WaitingReason.PROVIDER_UNAVAILABLE if paused else None


def _next_attempt_after(due: datetime, held_until: datetime | None, now: datetime) -> int | None:
    """Seconds until the relay tries a pending message again; None when it is due now or a
    relay holds it (being tried)."""
    if held_until is not None and held_until > now:
        return None
    seconds = (due - now).total_seconds()
    return math.ceil(seconds) if seconds > 0 else None
