"""The senders: a pool of threads, each lent a set of channels, delivering claimed rows
through the providers that are up, and doing what decide.py decides of each.

Long because: the hand-over, the send and the doing of a decision (`_apply`, `_pose`) are one
row's path through state they share (the sessions, the outcome book, the send times); the next
split is the doing, once it can take that state as one object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial

from outbox_relay import claims, decide, gates, leases, metrics, send_spans
from outbox_relay.channels.factory import ChannelFactory
from outbox_relay.compose import compose
from outbox_relay.decide import (
    Accepted,
    Decision,
    HandBack,
    Note,
    Outcome,
    Pause,
    Refused,
    Tell,
)
from outbox_relay.failures import DeliveryFailure, Verdict
from outbox_relay.flight import Flight
from outbox_relay.gates import Gate
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.precedence import Precedence, Ticket
from outbox_relay.providers import Provider, Providers
from outbox_relay.render import Templates
from outbox_relay.send_times import SendTimes
from outbox_relay.sessions import Sessions
from outbox_relay.strangers import StrangerMail
from shared.bounce_tokens import envelope_sender
from shared.clock import utcnow
from shared.secretbox import SecretBox
from shared.settings import code_link
from shared.settings.config import Settings

log = logging.getLogger(__name__)


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
        self._box = box
        self._providers = providers
        self._outcomes = outcomes
        self._strangers = strangers
        self._code_link = code_link.from_setting(settings.code_link_url)
        self._sender = envelope_sender(settings.bounce_address, settings.secret_key)
        self._stopping = stopping
        self._heartbeat = heartbeat
        self._keeper = keeper
        self._templates = Templates.checked(settings)
        # Each provider's sessions: as many as senders, unless the provider takes fewer.
        self._sessions = {
            name: Sessions(partial(make_channel, name), settings.relay_concurrency)
            for name in providers.names()
        }
        self._send_times = SendTimes()
        # The rows told of already, of a note said once a row: a line a lease for a day buried
        # every other error; one names each message whose mail is lost, and a restart (after a
        # fix of the keys) tells again of those still held.
        self._told_once: set[int] = set()
        self._flight = Flight(  # as many senders as the providers allow sessions now
            settings.relay_concurrency,
            "sender",
            lambda: sum(sessions.allowed for sessions in self._sessions.values()),
        )
        self._precedence = Precedence()
        self._batching = ExitStack()

    @property
    def in_flight(self) -> int:
        """Rows handed to the senders whose delivery is not done."""
        return self._flight.count

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
        if len(rows) == 1 and not rows[0].withhold and not self.in_flight:
            self._deliver(*calls[0])
            return
        if self._flight.take_off(len(rows)):
            self._batching.enter_context(self._outcomes.batching())
        self._flight.hand(self._deliver, calls)

    def wait(self, done: Callable[[], bool], timeout: float) -> None:
        """Until `done` holds, a delivery ends or `timeout` seconds pass."""
        self._flight.wait(done, timeout)

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
        self._templates.close()
        self._keeper.close()

    @send_spans.traced
    def _deliver(self, row: claims.Claimed, suppressed: bool, ticket: Ticket) -> None:
        try:
            self._deliver_in_turn(row, suppressed, ticket)
        finally:
            ticket.leave()

    def _deliver_in_turn(self, row: claims.Claimed, suppressed: bool, ticket: Ticket) -> None:
        now = utcnow()
        gate = gates.first_gate(
            row,
            now,
            self.settings,
            database_lost=self._outcomes.database_lost,
            suppressed=suppressed,
            stopping=self._stopping.is_set(),
        )
        picked = self._providers.pick(row.channel, row.attempts) if gate is None else None
        if picked is None:
            self._apply(row, decide.decide(row, gate or Gate.NO_PROVIDER, now, self.settings))
            return
        provider, taken = picked
        send_spans.provider(provider.name)
        gate = self._strangers.gate(row, now)
        if gate is not None:
            self._apply(row, decide.decide(row, gate, now, self.settings), provider)
            return
        started = time.perf_counter()
        try:
            start_by = leases.start_by(row, self.settings)
            self._send(row, provider, taken, ticket, start_by=start_by, started=started)
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            raised = decide.decide(row, exc, now, self.settings, ms=_ms(started))
            self._apply(row, raised, provider)
        finally:
            metrics.labelled(metrics.DELIVERY_SECONDS, row.channel).observe(
                time.perf_counter() - started
            )
            self._heartbeat()

    def _send(
        self,
        row: claims.Claimed,
        provider: Provider,
        taken: int,
        ticket: Ticket,
        start_by: float,
        started: float,
    ) -> None:
        """Send one row through one of `provider`'s sessions, once the rows of an earlier
        priority handed over before it are answered (`ticket`), and apply what its answer
        decides.

        The message is composed once a session is lent: a sender waiting for one holds no
        rendered mail, and the senders' CPU goes to the sends that can leave. A failure is
        judged before its session is given back, and no session is lent once the provider has
        paused since `taken` (its `take`): a sender that took it before a pause then opens
        none (a wrong password: a second failed AUTH).
        """
        sessions = self._sessions[provider.name]
        with self._keeper.holding(row):
            ticket.wait(start_by)
            channel = sessions.borrow(
                start_by, lambda: not provider.paused_since(taken), row.priority
            )
            kept = True  # until the send: a message that cannot be composed says nothing of it
            try:
                message = compose(
                    row,
                    self._box,
                    self.settings.mail_from,
                    self._templates,
                    self._strangers.unsubscribe_url,
                    self._code_link,
                    self.settings.sms_autofill,
                    self._sender,
                )
                kept, sending = False, time.perf_counter()
                provider_id = channel.send(message, start_by)
            except DeliveryFailure as failure:
                # A refusal of this message alone leaves the session to its channel, which
                # keeps what still works (an SMTP session RSETs and takes the next message).
                kept = failure.verdict is not Verdict.PROVIDER_DOWN
                sessions.judge(failure, provider.name, channel)
                self._apply(row, self._refused(row, provider, failure, _ms(started)), provider)
            else:
                kept = True
                sessions.accepted(channel, time.perf_counter() - sending)
                self._send_times.accepted(provider.name, time.perf_counter() - started)
                accepted = Accepted(provider_id)
                sent = decide.decide(row, accepted, utcnow(), self.settings, ms=_ms(started))
                self._apply(row, sent, provider)
            finally:
                ticket.leave()
                # A paused provider keeps no session: its probe must not be one too many.
                sessions.give_back(channel, keep=kept and provider.usable)

    def _refused(
        self, row: claims.Claimed, provider: Provider, failure: DeliveryFailure, ms: int
    ) -> Decision:
        """What a failed send decides: its verdict from `provider` (whose policy rule counts
        the recipient) and, for the provider's own failure, the wait before its probe and
        whether another provider of the channel may be used now."""
        verdict = provider.judge(failure, row.recipient)
        down = verdict is Verdict.PROVIDER_DOWN
        refused = Refused(
            failure,
            verdict,
            # A throttle's Retry-After is honoured: no probe before it.
            probe_wait=max(provider.probe_backoff(), failure.retry_floor) if down else 0.0,
            another_takes=down and self._providers.another_takes(row.channel, provider),
        )
        return decide.decide(row, refused, utcnow(), self.settings, ms=ms)

    def _apply(
        self, row: claims.Claimed, decision: Decision, provider: Provider | None = None
    ) -> None:
        """Do what was decided of `row`, whose send was taken for `provider` (if any).

        The provider hears of a send it never saw first, so that a trial goes at once to the
        next send; of an answer once the outcome is collected, so that a recount (a provider
        answering its first probe at once) finds it, written or waiting.
        """
        note = decision.note
        if note is not None and not (note.once and row.id in self._told_once):
            _tell(row, note)
            if note.once:
                self._told_once.add(row.id)
        told = decision.provider
        if provider is not None and told is Tell.UNTRIED:
            provider.untried()
        fate = decision.fate
        if isinstance(fate, HandBack):
            self._outcomes.hand_back(row, fate.due, fallback=fate.fallback)
            return
        if decision.poses and provider is not None:
            fate = self._pose(fate, provider)
        self._outcomes.collect(fate)
        if provider is not None and told is Tell.ANSWERED:
            provider.answered()
        elif provider is not None and isinstance(told, Pause):
            recount = told.recount
            provider.pause(
                told.reason, told.wait, lambda: self._outcomes.recount(recount(utcnow()))
            )
            self._sessions[provider.name].restart()
            self._sessions[provider.name].close_idle()

    def _pose(self, outcome: Outcome, provider: Provider) -> Outcome:
        """`outcome`, once the time `provider` takes to accept a message has passed (a stop
        cuts the wait short), with that time: while the provider is paused, it waited as the
        others do (`pick`)."""
        started = time.perf_counter()
        self._stopping.wait(self._send_times.typical(provider.name))
        self._heartbeat()
        return replace(outcome, ms=_ms(started))


def _tell(row: claims.Claimed, note: Note) -> None:
    """Tell the operator what a decision says of `row`."""
    extra = {"id": row.public_id}
    if note.error is not None:
        extra["error"] = note.error
    log.log(note.level, note.message, extra=extra, exc_info=note.bug)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
