"""Dead letters as operators see them: a page of them, one in full (which ones: the filter,
shared/operations/dead_filter.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from shared.database.columns import Vocabulary
from shared.database.models import outbox, outbox_attempts, provider_events, suppressions
from shared.messaging.outbox import AttemptOutcome, Channel, DeadReason, Purpose, Status
from shared.operations import tallies

# The filter is its own module; its faces still find it here.
from shared.operations.dead_filter import DEAD_STATUSES as DEAD_STATUSES
from shared.operations.dead_filter import FILTER_CHOICES as FILTER_CHOICES
from shared.operations.dead_filter import DeadFilter as DeadFilter
from shared.operations.dead_filter import UnknownFilter as UnknownFilter
from shared.vocabulary import EventType, ProviderEventType, Resolution

# The most dead letters one page lists, wherever it is asked for.
MAX_PAGE = 500
# What a dead letter failed of: its dead reason, or `bounced` (its status) when it has none.
_FAILURE = Vocabulary((DeadReason, Status), 20)


@dataclass(frozen=True)
class DeadLetter:
    """A message that will never be delivered as it stands."""

    id: str
    created_at: datetime
    channel: Channel
    purpose: Purpose | EventType
    recipient: str
    attempts: int
    dead_reason: DeadReason | Status | None
    last_error: str | None
    user_id: int | None


@dataclass(frozen=True)
class AttemptRecord:
    """One delivery attempt of a message."""

    attempted_at: datetime
    outcome: AttemptOutcome
    duration_ms: int
    error: str | None


@dataclass(frozen=True)
class ProviderEventRecord:
    """What a provider reported about a message after it took it (a bounce, a complaint)."""

    at: datetime
    type: ProviderEventType
    permanent: bool
    source: str
    diagnostic: str | None

    @property
    def kind(self) -> str:
        """What it says of the message, as people read it: a transient bounce is a delay (a
        server still tries), not a failure; the others are their type."""
        if self.type == ProviderEventType.BOUNCE and not self.permanent:
            return "delay"
        return str(self.type)

    @property
    def failed(self) -> bool:
        """Whether it says the message failed: a permanent bounce or a complaint."""
        return self.kind in (ProviderEventType.BOUNCE, ProviderEventType.COMPLAINT)


@dataclass(frozen=True)
class MessageDetail:
    """A message with its attempts and provider events; never its parameters or secrets."""

    id: str
    created_at: datetime
    channel: Channel
    purpose: Purpose | EventType
    recipient: str
    locale: str
    status: Status
    attempts: int
    dead_reason: DeadReason | None
    last_error: str | None
    sent_at: datetime | None
    user_id: int | None
    resolution: Resolution | None
    resolved_at: datetime | None
    replaced_by: str | None
    history: list[AttemptRecord]
    provider_events: list[ProviderEventRecord]

    @property
    def unresolved(self) -> bool:
        """Whether it is a dead letter still to deal with: to retry or discard."""
        return self.status in DEAD_STATUSES and self.resolution is None


_DEAD_COLUMNS = (
    outbox.c.public_id.label("id"),
    outbox.c.created_at,
    outbox.c.channel,
    outbox.c.purpose,
    outbox.c.recipient,
    outbox.c.attempts,
    # A bounced message has no dead_reason: it was sent, then bounced.
    func.coalesce(outbox.c.dead_reason, outbox.c.status, type_=_FAILURE).label("dead_reason"),
    outbox.c.last_error,
    outbox.c.user_id,
)


def list_dead(
    connection: Connection, where: DeadFilter, *, limit: int, before: int | None = None
) -> tuple[list[DeadLetter], int | None]:
    """Unresolved dead letters, newest first, and the cursor of the next page (None at the end).

    The cursor is the internal id of the last row shown; pages stay stable while rows are added.
    """
    query = select(outbox.c.id.label("cursor"), *_DEAD_COLUMNS).where(*where.conditions())
    if before is not None:
        query = query.where(outbox.c.id < before)
    found = connection.execute(query.order_by(outbox.c.id.desc()).limit(limit + 1)).all()
    page = found[:limit]
    letters = [DeadLetter(**{k: v for k, v in r._mapping.items() if k != "cursor"}) for r in page]
    return letters, page[-1].cursor if len(found) > limit else None


def count_dead(connection: Connection, where: DeadFilter) -> int:
    """How many unresolved dead letters match: all of them from the tallies, which read no
    message (shared/operations/tallies.py)."""
    if where == DeadFilter():
        return tallies.count_status(connection, DEAD_STATUSES, resolved=False)
    counted: int = connection.execute(
        select(func.count()).select_from(outbox).where(*where.conditions())
    ).scalar_one()
    return counted


def show(connection: Connection, public_id: str) -> MessageDetail | None:
    """One message with its attempts and its provider events, each oldest first."""
    row = connection.execute(
        select(
            outbox.c.id.label("key"),
            outbox.c.public_id.label("id"),
            outbox.c.created_at,
            outbox.c.channel,
            outbox.c.purpose,
            outbox.c.recipient,
            outbox.c.locale,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.dead_reason,
            outbox.c.last_error,
            outbox.c.sent_at,
            outbox.c.user_id,
            outbox.c.resolution,
            outbox.c.resolved_at,
            outbox.c.replaced_by,
        ).where(outbox.c.public_id == public_id)
    ).one_or_none()
    if row is None:
        return None
    fields = {k: v for k, v in row._mapping.items() if k != "key"}
    return MessageDetail(
        **fields,
        history=_attempts(connection, row.key),
        provider_events=_provider_events(connection, row.key),
    )


def _attempts(connection: Connection, key: int) -> list[AttemptRecord]:
    return [
        AttemptRecord(**a._mapping)
        for a in connection.execute(
            select(
                outbox_attempts.c.attempted_at,
                outbox_attempts.c.outcome,
                outbox_attempts.c.duration_ms,
                outbox_attempts.c.error,
            )
            .where(outbox_attempts.c.outbox_id == key)
            .order_by(outbox_attempts.c.attempted_at, outbox_attempts.c.id)
        )
    ]


def _provider_events(connection: Connection, key: int) -> list[ProviderEventRecord]:
    return [
        ProviderEventRecord(**e._mapping)
        for e in connection.execute(
            select(
                provider_events.c.at,
                provider_events.c.type,
                provider_events.c.permanent,
                provider_events.c.source,
                provider_events.c.diagnostic,
            )
            .where(provider_events.c.outbox_id == key)
            .order_by(provider_events.c.at, provider_events.c.id)
        )
    ]


@dataclass(frozen=True)
class Suppressed:
    """The suppression that stops a dead letter's retry: the operator removes it first."""

    id: int
    address: str


def suppression_of(connection: Connection, public_id: str) -> Suppressed | None:
    """The suppression of a message's address, if there is one."""
    found = connection.execute(
        select(suppressions.c.id, suppressions.c.address)
        .select_from(outbox.join(suppressions, suppressions.c.address == outbox.c.recipient))
        .where(outbox.c.public_id == public_id)
    ).first()
    return Suppressed(found.id, found.address) if found is not None else None
