"""Providers in operators' hands: each configured provider and why it is where it is, an
operator's pause (a planned switch, a provider's incident) and its end; every relay on the
database obeys within a poll (outbox_relay/shared_pauses.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from shared.messaging import provider_pauses
from shared.messaging.events import EventType, provider_changed
from shared.messaging.messages import Queueing
from shared.messaging.outbox import Channel
from shared.messaging.provider_pauses import Pause
from shared.operations.audit import record
from shared.settings.config import Settings
from shared.vocabulary import PausedBy

# The longest reason kept: a sentence or two, as the audit shows it.
REASON_MAX = 500


class ProviderState(StrEnum):
    """Where a provider is: used, paused by a relay on its own failure, or by an operator."""

    UP = "up"
    PAUSED_BY_RELAY = "paused_by_relay"
    PAUSED_BY_OPERATOR = "paused_by_operator"


@dataclass(frozen=True)
class ProviderStatus:
    """One configured provider: its channel, where it is and why (the relay's failure, or the
    operator who paused it, why and until when; None while it is up)."""

    name: str
    channel: Channel
    state: ProviderState
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    paused_by: str | None = None


class ResumeOutcome(StrEnum):
    """What `resume_provider` found."""

    RESUMED = "resumed"
    NOT_PAUSED = "not_paused"  # no operator's pause to end (a relay's ends with its probe)
    UNKNOWN = "unknown"  # no provider of that name is configured


def list_providers(
    connection: Connection, settings: Settings, now: datetime
) -> list[ProviderStatus]:
    """Every configured provider, mail, SMS then webhook, each in the order relays try them."""
    found = provider_pauses.pauses(connection)
    return [
        _status(name, channel, found.get(name), now)
        for channel, names in provider_pauses.providers_of(settings).items()
        for name in names
    ]


def pause_provider(
    connection: Connection,
    settings: Settings,
    name: str,
    *,
    reason: str,
    until: datetime | None,
    actor: str,
    now: datetime,
) -> ProviderStatus | None:
    """Pause `name` by hand until `until` (None: until resumed); None if no such provider is
    configured. Audited; relays stop handing it new messages within a poll, and its messages
    go to the fallback where there is one."""
    channel = _channel_of(settings, name)
    if channel is None:
        return None
    reason = reason[:REASON_MAX]
    provider_pauses.pause_by_hand(
        connection, name, actor=actor, reason=reason, until=until, now=now
    )
    details = {"reason": reason, "until": until.isoformat() if until else None}
    record(connection, actor, "provider_pause", name, details, now)
    return _status(name, channel, provider_pauses.pauses(connection)[name], now)


def resume_provider(
    connection: Connection, deps: Queueing, name: str, *, actor: str, now: datetime
) -> ResumeOutcome:
    """End an operator's pause of `name`: relays use it again within a poll. Audited; the
    application hears `provider.up` if it was told `provider.down`."""
    if _channel_of(deps.settings, name) is None:
        return ResumeOutcome.UNKNOWN
    ended = provider_pauses.end(connection, name, PausedBy.OPERATOR)
    if ended is None:
        return ResumeOutcome.NOT_PAUSED
    record(connection, actor, "provider_resume", name, {}, now)
    if ended.told_at is not None:
        provider_changed(connection, deps.settings, deps.box, ended, EventType.PROVIDER_UP, now=now)
    return ResumeOutcome.RESUMED


def _channel_of(settings: Settings, name: str) -> Channel | None:
    """The channel `name` serves, None if it is no configured provider."""
    configured = provider_pauses.providers_of(settings).items()
    return next((channel for channel, names in configured if name in names), None)


def _status(name: str, channel: Channel, pause: Pause | None, now: datetime) -> ProviderStatus:
    """Where `name` stands given its recorded pause, if any (one run out stands for none)."""
    if pause is None or not pause.lasts(now):
        return ProviderStatus(name, channel, ProviderState.UP)
    by_hand = pause.paused_by == PausedBy.OPERATOR
    return ProviderStatus(
        name,
        channel,
        ProviderState.PAUSED_BY_OPERATOR if by_hand else ProviderState.PAUSED_BY_RELAY,
        reason=pause.reason,
        since=pause.since,
        until=pause.until if by_hand else None,  # a relay's is a lease, not an end
        paused_by=pause.actor if by_hand else "relay",
    )
