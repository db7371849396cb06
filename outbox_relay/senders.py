"""The senders: a pool of threads, each lent a set of channels, delivering claimed rows
through the providers that are up: each row met (meet.py), decided once (decide.py), and what
was decided done (doer.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial

from outbox_relay import claims, decide, leases, send_spans
from outbox_relay.channel_providers import Providers
from outbox_relay.channels.factory import ChannelFactory
from outbox_relay.doer import Doer
from outbox_relay.flight import Flight
from outbox_relay.meet import Meet
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.precedence import Precedence, Ticket
from outbox_relay.send_times import SendTimes
from outbox_relay.sessions import Sessions
from outbox_relay.strangers import StrangerMail
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings


class Senders:
    """`RELAY_CONCURRENCY` senders; each row goes to the first provider of its channel that is
    up, and its outcome to the book."""

    def __init__(
        self,
        settings: Settings,
        box: SecretBox,
        providers: Providers,
        make_channel: ChannelFactory,
        outcomes: OutcomeBook,
        strangers: StrangerMail,
        *,
        stopping: threading.Event,
        heartbeat: Callable[[], None],
        keeper: leases.LeaseKeeper,
    ) -> None:
        self.settings = settings
        self._outcomes = outcomes
        # Each provider's sessions: as many as senders, unless the provider takes fewer.
        self._sessions = {
            name: Sessions(partial(make_channel, name), settings.relay_concurrency)
            for name in providers.names()
        }
        send_times = SendTimes()
        self._meet = Meet(
            settings,
            box,
            providers,
            self._sessions,
            outcomes,
            strangers,
            send_times,
            stopping=stopping,
            heartbeat=heartbeat,
            keeper=keeper,
        )
        self._doer = Doer(
            outcomes, self._sessions, send_times, stopping=stopping, heartbeat=heartbeat
        )
        self._flight = Flight(  # as many senders as the providers allow sessions now
            settings.relay_concurrency,
            "sender",
            lambda: sum(sessions.allowed for sessions in self._sessions.values()),
        )
        self._precedence = Precedence()
        self._batching = ExitStack()

    def start(self, rows: list[claims.Claimed], suppressed: set[int]) -> None:
        """Start delivering a claim's rows, those to a `suppressed` address as such.

        A lone row claimed while no other is in flight, what a relay woken for each new
        message claims, is delivered on this thread with a sender's channels, its outcome
        written at once: handing it to a sender would cost two thread switches and gain
        nothing. Other rows go to the senders, codes first (the pacer keeps that order under
        SMTP_RATE), their outcomes written a batch at a time until `finish`; each takes its
        place among the rows in flight as it is handed over (Precedence). A row to withhold
        waits as a send would, on a sender, never on this thread.
        """
        rows = sorted(rows, key=lambda row: row.priority)
        calls = [
            (row, row.id in suppressed, self._precedence.enter(row.channel, row.priority))
            for row in rows
        ]
        if len(rows) == 1 and not rows[0].withhold and not self._flight.count:
            self._deliver(*calls[0])
            return
        if self._flight.take_off(len(rows)):
            self._batching.enter_context(self._outcomes.batching())
        self._flight.hand(self._deliver, calls)

    def finish(self) -> None:
        """Wait for the rows in flight, write the outcomes waiting, and raise what a delivery
        raised."""
        raised = self._flight.land()
        self._batching.close()
        if raised is not None:
            raise raised

    def stop(self) -> None:
        """Let the sends in flight finish; start no other."""
        self._flight.stop()

    def cut(self) -> None:
        """Break off the sends still in flight: each waiting on a provider fails at once, its
        outcome collected as any other (the reply to the end of DATA: unknown)."""
        for sessions in self._sessions.values():
            sessions.cut_lent()

    def close(self) -> None:
        """Close every channel (their connections to the providers), and stop the template
        render workers."""
        for sessions in self._sessions.values():
            sessions.close_idle()
        self._meet.close()

    @send_spans.traced
    def _deliver(self, row: claims.Claimed, suppressed: bool, ticket: Ticket) -> None:
        """Meet `row`, decide what becomes of it, and do that."""
        try:
            with self._meet.row(row, suppressed, ticket) as meeting:
                decision = decide.decide(row, meeting.met, meeting.at, self.settings, ms=meeting.ms)
                self._doer.do(row, decision, meeting.provider)
        finally:
            ticket.leave()
