"""What ends or hands back a claimed row before any send: its gates, in the order they are met."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from outbox_relay import claims
from shared.settings.config import Settings


class Gate(Enum):
    """What ends or hands back a row before any send."""

    DATABASE_LOST = "database_lost"  # outcomes cannot be written: nothing is sent meanwhile
    EXPIRED = "expired"  # its horizon passed
    SUPPRESSED = "suppressed"  # its address is on the suppression list
    NO_LEASE = "no_lease"  # the relay is stopping, or the lease left cannot cover a send
    NO_PROVIDER = "no_provider"  # no provider of its channel may be used now
    BUDGET_UNKNOWN = "budget_unknown"  # a "no account" mail's budget could not be read
    WITHHELD = "withheld"  # not to be sent (StrangerMail): it poses as a send, calling nothing


def first_gate(
    row: claims.Claimed,
    now: datetime,
    settings: Settings,
    *,
    database_lost: bool,
    suppressed: bool,
    stopping: bool,
) -> Gate | None:
    """The first gate that stops `row` before a provider is picked; None: it may go."""
    if database_lost:
        return Gate.DATABASE_LOST
    if row.expires_at is not None and row.expires_at <= now:
        return Gate.EXPIRED
    if suppressed:
        return Gate.SUPPRESSED
    if stopping or not covers_a_send(row, now, settings):
        return Gate.NO_LEASE
    return None


def covers_a_send(row: claims.Claimed, now: datetime, settings: Settings) -> bool:
    """Whether a send that hits its timeout still ends before `row`'s lease lapses."""
    return (row.locked_until - now).total_seconds() > settings.longest_send_of(row.channel) + 1
