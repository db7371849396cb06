"""A relay's side of the pauses every relay shares (shared/messaging/provider_pauses.py): it obeys
the operators' pauses, records its own for operators to see, and tells the application of an outage
once, whichever relay comes first. Read at most once a poll, between two claims: a send still
asks its provider alone, in memory, as before."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, Engine

from outbox_relay.channel_providers import Providers
from outbox_relay.providers import Provider
from shared.clock import utcnow
from shared.messaging import provider_pauses
from shared.messaging.events import EventType, provider_changed
from shared.messaging.provider_pauses import Pause
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.vocabulary import PausedBy

log = logging.getLogger(__name__)

# The shortest lease of a relay's pause: renewed every half of it by each relay that finds the
# provider down (a write a relay every 15 s of an outage); a dead relay's pause ends after it.
LEASE_SECONDS = 30.0

# Runs `work` on the claims' connection (claims.Claimer.run): a read costs no pool checkout.
Reader = Callable[[Callable[[Connection], dict[str, Pause]]], dict[str, Pause]]


class SharedPauses:
    """Given to the relay (bootstrap.build_relay), which calls `refresh` before each claim."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        box: SecretBox,
        providers: Providers,
        read: Reader,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._box = box
        self._providers = providers
        self._read = read
        self._clock = clock
        self._next = clock()
        # The providers this relay had paused at its last refresh.
        self._down: set[str] = set()
        # A relay's pause lasts this long unless a relay that finds the provider down renews it.
        self._lease = timedelta(seconds=max(LEASE_SECONDS, 10 * settings.relay_poll_interval))

    def refresh(self) -> None:
        """Once a poll interval at most: obey what the table says, and write what changed."""
        if self._clock() < self._next:
            return
        self._next = self._clock() + self._settings.relay_poll_interval
        now = utcnow()
        found = self._read(provider_pauses.pauses)
        for provider in self._providers.every():
            pause = found.get(provider.name)
            provider.hold(pause.since if pause is not None and pause.by_hand(now) else None)
        writes = self._writes(found, now)
        if writes:
            with self._engine.begin() as connection:
                for write in writes:
                    write(connection)

    def _writes(self, found: dict[str, Pause], now: datetime) -> list[Callable[[Connection], None]]:
        """What this relay has to write: its own pauses begun or ended, operators' pauses run
        out, and outages the application is to hear of."""
        writes: list[Callable[[Connection], None]] = []
        was_down, self._down = self._down, set()
        for provider in self._providers.every():
            name, judged, pause = provider.name, provider.judged_down(), found.get(provider.name)
            if judged is not None and pause is None and name in was_down:
                # Its pause was ended by another relay whose send passed (or by an operator):
                # the provider answers, though this relay had no message to probe it with.
                provider.seen_up()
                continue
            if judged is not None:
                self._down.add(name)
            if judged is not None and pause is None:
                since, reason = judged
                record = partial(self._record, name=name, since=since, reason=reason)
                writes.append(partial(record, until=now + self._lease))
            elif judged is not None and pause is not None and self._lapsing(pause, now):
                writes.append(partial(self._renew, name=name, until=now + self._lease))
            elif judged is None and pause is not None and self._seen_up(provider, pause, was_down):
                # Its probe passed here, or a send did since another relay paused it: the
                # provider answers, whichever relay recorded it.
                writes.append(partial(self._end, name=name, paused_by=PausedBy.RELAY, now=now))
            elif pause is not None and not pause.lasts(now):
                ran_out = partial(self._end, name=name, paused_by=pause.paused_by, now=now)
                writes.append(partial(ran_out, until=pause.until))
            elif pause is not None and self._due_to_tell(pause, now):
                writes.append(partial(self._tell_down, pause=pause, now=now))
        return writes

    @staticmethod
    def _seen_up(provider: Provider, pause: Pause, was_down: set[str]) -> bool:
        """Whether this relay, which finds `provider` up, saw it answer since a relay's `pause`."""
        if provider.name in was_down:
            return True
        return pause.paused_by == PausedBy.RELAY and provider.answered_since(pause.since)

    def _record(
        self, connection: Connection, name: str, since: datetime, reason: str, until: datetime
    ) -> None:
        provider_pauses.record_relay_pause(
            connection, name, reason=reason, since=since, until=until
        )

    def _lapsing(self, pause: Pause, now: datetime) -> bool:
        """Whether a relay's pause is past half its lease: this relay, which finds the provider
        down, renews it."""
        if pause.paused_by != PausedBy.RELAY or pause.until is None:
            return False
        return pause.until - now < self._lease / 2

    def _renew(self, connection: Connection, name: str, until: datetime) -> None:
        provider_pauses.renew(connection, name, until)

    def _end(
        self,
        connection: Connection,
        name: str,
        paused_by: PausedBy,
        now: datetime,
        until: datetime | None = None,
    ) -> None:
        """End a pause that is over; the application hears `provider.up` if it heard it down."""
        ended = provider_pauses.end(connection, name, paused_by, until)
        if ended is not None and ended.told_at is not None:
            self._tell(connection, ended, EventType.PROVIDER_UP, now)

    def _due_to_tell(self, pause: Pause, now: datetime) -> bool:
        """Whether the application is to hear of this pause now: down long enough, not yet told."""
        after = timedelta(seconds=self._settings.provider_down_after)
        told = pause.told_at is not None
        return not told and self._settings.webhook_url is not None and pause.since + after <= now

    def _tell_down(self, connection: Connection, pause: Pause, now: datetime) -> None:
        if provider_pauses.claim_telling(connection, pause.provider, now):
            self._tell(connection, pause, EventType.PROVIDER_DOWN, now)

    def _tell(self, connection: Connection, pause: Pause, event: EventType, now: datetime) -> None:
        provider_changed(connection, self._settings, self._box, pause, event, now=now)
        log.warning("application told", extra={"provider": pause.provider, "event": event})
