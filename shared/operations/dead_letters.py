"""Dead letters as operators see them: which ones (the filter), a page of them, one in full."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from shared.events import ALL_PURPOSES
from shared.models import outbox, outbox_attempts, provider_events, suppressions
from shared.operations import tallies
from shared.outbox import ALL_CHANNELS, FAILED, FAILURES, Status

# Messages that will never be delivered as they are: dead, or bounced after they were sent.
DEAD_STATUSES = FAILED
# The unresolved ones, as the partial index `outbox_unresolved` (migration 0020) says, which
# the list reads newest first (written out: a bound value would not match its predicate in a
# generic plan).
_UNRESOLVED = (
    outbox.c.status.in_([literal_column(repr(str(status))) for status in DEAD_STATUSES]),
    outbox.c.resolution.is_(None),
)
# The most dead letters one page lists, wherever it is asked for.
MAX_PAGE = 500
# What each choice of a filter may be, on every face: any channel and purpose a row can have
# (webhook rows and their events too), a dead reason, or bounced.
FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "channel": ALL_CHANNELS,
    "purpose": ALL_PURPOSES,
    "reason": FAILURES,
}
# The fields of a filter that hold text, in the order the faces show and repeat them.
_TEXT_FIELDS = (*FILTER_CHOICES, "recipient")


class UnknownFilter(ValueError):
    """A filter asked for a value it cannot take: refused, never quietly dropped."""

    def __init__(self, name: str, value: str) -> None:
        choices = ", ".join(FILTER_CHOICES[name])
        super().__init__(f"There is no {name} {value!r}: a {name} is one of {choices}.")
        self.name = name
        self.value = value


@dataclass(frozen=True)
class DeadFilter:
    """Which dead letters: every field given must match."""

    channel: str | None = None
    purpose: str | None = None
    reason: str | None = None
    recipient: str | None = None
    since: datetime | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> DeadFilter:
        """The filter `values` name (arguments, a query, a form); an empty field is not given,
        a value a field cannot take raises UnknownFilter."""

        def among(name: str) -> str | None:
            value = values.get(name)
            if not isinstance(value, str) or not value:
                return None
            if value not in FILTER_CHOICES[name]:
                raise UnknownFilter(name, value)
            return value

        recipient, since = values.get("recipient"), values.get("since")
        return cls(
            channel=among("channel"),
            purpose=among("purpose"),
            reason=among("reason"),
            recipient=recipient if isinstance(recipient, str) and recipient else None,
            since=since if isinstance(since, datetime) else None,
        )

    def as_strings(self) -> dict[str, str]:
        """The fields given, as text (`since` in ISO 8601), to repeat them in a URL or command."""
        given = {name: getattr(self, name) for name in _TEXT_FIELDS if getattr(self, name)}
        return given | ({"since": self.since.isoformat()} if self.since else {})

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses selecting unresolved dead letters that match."""
        found: list[ColumnElement[bool]] = [*_UNRESOLVED]
        if self.channel:
            found.append(outbox.c.channel == self.channel)
        if self.purpose:
            found.append(outbox.c.purpose == self.purpose)
        if self.reason == Status.BOUNCED:
            found.append(outbox.c.status == Status.BOUNCED)
        elif self.reason:
            found.append(outbox.c.dead_reason == self.reason)
        if self.recipient:
            found.append(outbox.c.recipient == self.recipient)
        if self.since:
            found.append(outbox.c.created_at >= self.since)
        return found


@dataclass(frozen=True)
class DeadLetter:
    """A message that will never be delivered as it stands."""

    id: str
    created_at: datetime
    channel: str
    purpose: str
    recipient: str
    attempts: int
    dead_reason: str | None
    last_error: str | None
    user_id: int | None


@dataclass(frozen=True)
class AttemptRecord:
    """One delivery attempt of a message."""

    attempted_at: datetime
    outcome: str
    duration_ms: int
    error: str | None


@dataclass(frozen=True)
class ProviderEventRecord:
    """What a provider reported about a message after it took it (a bounce, a complaint)."""

    at: datetime
    type: str
    permanent: bool
    source: str
    diagnostic: str | None


@dataclass(frozen=True)
class MessageDetail:
    """A message with its attempts and provider events; never its parameters or secrets."""

    id: str
    created_at: datetime
    channel: str
    purpose: str
    recipient: str
    locale: str
    status: str
    attempts: int
    dead_reason: str | None
    last_error: str | None
    sent_at: datetime | None
    user_id: int | None
    resolution: str | None
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
    func.coalesce(outbox.c.dead_reason, outbox.c.status).label("dead_reason"),
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
