"""Which dead letters an operator means: the filter every face takes (the command line, the admin
API, the dashboard), the choices each of its fields has, and the SQL that picks them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import literal_column
from sqlalchemy.sql.elements import ColumnElement

from shared.database.models import outbox
from shared.messaging.events import ALL_PURPOSES, EventType
from shared.messaging.outbox import (
    ALL_CHANNELS,
    FAILED,
    FAILURES,
    PURPOSES,
    Channel,
    DeadReason,
    Purpose,
    Status,
)

T = TypeVar("T")

# Messages that will never be delivered as they are: dead, or bounced after they were sent.
DEAD_STATUSES = FAILED
# The unresolved ones, as the partial index `outbox_unresolved` (migration 0020) says, which
# the list reads newest first (written out: a bound value would not match its predicate in a
# generic plan).
_UNRESOLVED = (
    outbox.c.status.in_([literal_column(repr(str(status))) for status in DEAD_STATUSES]),
    outbox.c.resolution.is_(None),
)
# What each choice of a filter may be, on every face: any channel and purpose a row can have
# (webhook rows and their events too), a dead reason, or bounced.
FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "channel": ALL_CHANNELS,
    "purpose": ALL_PURPOSES,
    "reason": FAILURES,
}
# The fields of a filter that hold text, in the order the faces show and repeat them.
_TEXT_FIELDS = (*FILTER_CHOICES, "recipient")


def _purpose(value: str) -> Purpose | EventType:
    """A purpose a row can have, named (a message's or a webhook row's event)."""
    return Purpose(value) if value in PURPOSES else EventType(value)


def _failure(value: str) -> DeadReason | Status:
    """A reason a filter names: a dead reason, or bounced."""
    return Status.BOUNCED if value == Status.BOUNCED else DeadReason(value)


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

    channel: Channel | None = None
    purpose: Purpose | EventType | None = None
    reason: DeadReason | Status | None = None
    recipient: str | None = None
    since: datetime | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> DeadFilter:
        """The filter `values` name (arguments, a query, a form); an empty field is not given,
        a value a field cannot take raises UnknownFilter."""

        def among(name: str, word: Callable[[str], T]) -> T | None:
            value = values.get(name)
            if not isinstance(value, str) or not value:
                return None
            if value not in FILTER_CHOICES[name]:
                raise UnknownFilter(name, value)
            return word(value)

        recipient, since = values.get("recipient"), values.get("since")
        return cls(
            channel=among("channel", Channel),
            purpose=among("purpose", _purpose),
            reason=among("reason", _failure),
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
