"""Meeting a claimed row: its gates, a provider, a borrowed session, its message composed and
sent; what it met handed over as a `Meeting`, nothing of it done (what it decides is
decide.py's, the doing doer.py's).

River's job executor is the model: it runs a job and reports what happened, and its completer
does the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime

from outbox_relay import claims, gates, leases, metrics, send_spans
from outbox_relay.channel_providers import Providers
from outbox_relay.compose import compose
from outbox_relay.decide import Accepted, Met, SendFailed
from outbox_relay.failures import DeliveryFailure, Verdict
from outbox_relay.gates import Gate
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.precedence import Ticket
from outbox_relay.providers import Provider
from outbox_relay.render import Templates
from outbox_relay.send_times import SendTimes, ms_since
from outbox_relay.sessions import Sessions
from outbox_relay.strangers import StrangerMail
from shared.clock import utcnow
from shared.reports.bounce_tokens import envelope_sender
from shared.secrets.secretbox import SecretBox
from shared.settings import code_link
from shared.settings.config import Settings


@dataclass(frozen=True)
class Meeting:
    """What one delivery of a row met, as of `at` (when it began for a gate or what it raised,
    when the answer came for an answer), `ms` milliseconds into its send; `provider`: the one
    its send was taken for, if any."""

    met: Met
    at: datetime
    ms: int = 0
    provider: Provider | None = None


class Meet:
    """Meets each row handed to it on the providers' `sessions`, which it borrows and gives
    back; decides nothing and does nothing of what it met."""

    def __init__(
        self,
        settings: Settings,
        box: SecretBox,
        providers: Providers,
        sessions: dict[str, Sessions],
        outcomes: OutcomeBook,
        strangers: StrangerMail,
        send_times: SendTimes,
        *,
        stopping: threading.Event,
        heartbeat: Callable[[], None],
        keeper: leases.LeaseKeeper,
    ) -> None:
        self.settings = settings
        self._box = box
        self._providers = providers
        self._sessions = sessions
        self._outcomes = outcomes  # read only: whether outcomes can be written now
        self._strangers = strangers
        self._send_times = send_times
        self._stopping = stopping
        self._heartbeat = heartbeat
        self._keeper = keeper
        self._templates = Templates.checked(settings)
        self._code_link = code_link.from_setting(settings.code_link_url)
        self._sender = envelope_sender(settings.bounce_address, settings.secret_key)

    @contextmanager
    def row(self, row: claims.Claimed, suppressed: bool, ticket: Ticket) -> Iterator[Meeting]:
        """Meet `row` (to a `suppressed` address, or not), in its turn among the rows in flight
        (`ticket`): what it met, while the session its answer came on is still lent.

        What an answer decides is done before its session is given back and before the rows
        behind it in precedence go: a failure that pauses the provider has paused it before
        another send borrows a session, and a passed probe has resumed it, its session kept.
        A send that raised gives its session back first, as nothing of it says the session
        works.
        """
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
            yield Meeting(gate or Gate.NO_PROVIDER, now)
            return
        provider, taken = picked
        send_spans.provider(provider.name)
        gate = self._strangers.gate(row, now)
        if gate is not None:
            yield Meeting(gate, now, provider=provider)
            return
        started = time.perf_counter()
        try:
            with ExitStack() as lent:
                try:
                    answered: Meeting | None = self._send(
                        row, provider, taken, ticket, started, lent
                    )
                except Exception as exc:  # a bug or bad data must not kill the sender thread
                    answered, raised = None, exc
                if answered is not None:
                    yield answered
            if answered is None:
                yield Meeting(raised, now, ms_since(started), provider)
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
        started: float,
        lent: ExitStack,
    ) -> Meeting:
        """Send one row through one of `provider`'s sessions, once the rows of an earlier
        priority handed over before it are answered (`ticket`); the session is given back, and
        the row's place in line left, as `lent` closes.

        The message is composed once a session is lent: a sender waiting for one holds no
        rendered mail, and the senders' CPU goes to the sends that can leave. A failure is
        judged before its session is given back, and no session is lent once the provider has
        paused since `taken` (its `take`): a sender that took it before a pause then opens
        none (a wrong password: a second failed AUTH).
        """
        start_by = leases.start_by(row, self.settings)
        lent.enter_context(self._keeper.holding(row))
        ticket.wait(start_by)
        sessions = self._sessions[provider.name]
        channel = sessions.borrow(start_by, lambda: not provider.paused_since(taken), row.priority)
        kept = True  # until the send: a message that cannot be composed says nothing of it

        def give_back() -> None:
            ticket.leave()
            # A paused provider keeps no session: its probe must not be one too many.
            sessions.give_back(channel, keep=kept and provider.usable)

        lent.callback(give_back)
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
        try:
            provider_id = channel.send(message, start_by)
        except DeliveryFailure as failure:
            # A refusal of this message alone leaves the session to its channel, which keeps
            # what still works (an SMTP session RSETs and takes the next message).
            kept = failure.verdict is not Verdict.PROVIDER_DOWN
            sessions.judge(failure, provider.name, channel)
            ms = ms_since(started)
            return Meeting(self._refused(row, provider, failure), utcnow(), ms, provider)
        kept = True
        sessions.accepted(channel, time.perf_counter() - sending)
        self._send_times.accepted(provider.name, time.perf_counter() - started)
        return Meeting(Accepted(provider_id), utcnow(), ms_since(started), provider)

    def _refused(
        self, row: claims.Claimed, provider: Provider, failure: DeliveryFailure
    ) -> SendFailed:
        """A failed send with its verdict from `provider` (whose policy rule counts the
        recipient) and, for the provider's own failure, the wait before its probe and whether
        another provider of the channel may be used now."""
        verdict = provider.judge(failure, row.recipient)
        down = verdict is Verdict.PROVIDER_DOWN
        return SendFailed(
            failure,
            verdict,
            # A throttle's Retry-After is honoured: no probe before it.
            probe_wait=max(provider.probe_backoff(), failure.retry_floor) if down else 0.0,
            another_takes=down and self._providers.another_takes(row.channel, provider),
        )

    def close(self) -> None:
        """Stop the template render workers and the lease keeper."""
        self._templates.close()
        self._keeper.close()
