"""What the dashboard's composite pages read, each in one call: the overview's figures and a
page of dead letters with what a refused retry names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from shared.operations.audit import AuditEntry, audit_log
from shared.operations.dead_letters import (
    DeadFilter,
    DeadLetter,
    Suppressed,
    count_dead,
    list_dead,
    suppression_of,
)
from shared.operations.figures import Backlog, HourlyOutcome, Stats, backlog, hourly_outcomes, stats

# The latest operator actions the overview lists.
OVERVIEW_ACTIONS = 10


@dataclass(frozen=True)
class Overview:
    """The overview's figures, queue, last 24 hours and latest operator actions."""

    figures: Stats
    backlog: Backlog
    hours: list[HourlyOutcome]
    actions: list[AuditEntry]


def overview(connection: Connection, now: datetime) -> Overview:
    """The overview, read on one connection."""
    return Overview(
        stats(connection, now),
        backlog(connection, now),
        hourly_outcomes(connection, now),
        audit_log(connection, limit=OVERVIEW_ACTIONS),
    )


@dataclass(frozen=True)
class DeadPage:
    """A page of unresolved dead letters, the next page's cursor, how many match in all, and
    the suppression of the message a retry was refused for (None without one)."""

    letters: list[DeadLetter]
    next_cursor: int | None
    matching: int
    suppressed: Suppressed | None


def dead_page(
    connection: Connection,
    where: DeadFilter,
    *,
    limit: int,
    before: int | None,
    refused: str | None,
) -> DeadPage:
    """A page of dead letters matching `where`; with `refused` (a message whose retry was
    refused as suppressed), the suppression of its address."""
    letters, next_cursor = list_dead(connection, where, limit=limit, before=before)
    suppressed = suppression_of(connection, refused) if refused is not None else None
    return DeadPage(letters, next_cursor, count_dead(connection, where), suppressed)
