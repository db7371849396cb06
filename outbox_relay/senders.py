"""The senders: a pool of threads, each lent a set of channels, delivering claimed rows
through the providers that are up, and judging each outcome."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import claims, leases, metrics, send_spans
from outbox_relay.backoff import retry_delay
from outbox_relay.channels.factory import ChannelFactory
from outbox_relay.compose import compose
from outbox_relay.failures import Deferred, DeliveryFailure, Verdict
from outbox_relay.outcomes import Outcome, OutcomeBook
from outbox_relay.providers import PROBE_LEAD, Provider, Providers
from outbox_relay.render import TemplateError, Templates
from outbox_relay.send_times import SendTimes
from outbox_relay.sessions import Sessions
from outbox_relay.strangers import StrangerMail
from shared.clock import utcnow
from shared.outbox import Channel, Ending, Purpose
from shared.refusals import Refusal
from shared.secretbox import SealedUnderOtherKey, SecretBox
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
        self._stopping = stopping
        self._heartbeat = heartbeat
        self._keeper = keeper
        self._templates = Templates.checked(settings)
        # Each provider's sessions: as many as senders, unless the provider takes fewer.
        self._sessions = {
            name: Sessions(partial(make_channel, name), settings.relay_concurrency)
            for name in providers.names()
        }
        self._pool = ThreadPoolExecutor(
            max_workers=settings.relay_concurrency, thread_name_prefix="sender"
        )
        self._send_times = SendTimes()

    def deliver(self, rows: list[claims.Claimed], suppressed: set[int]) -> int:
        """Deliver a claim's rows, those to a `suppressed` address as such; how many.

        A lone row, what a relay woken for each new message claims, is delivered on this
        thread with a sender's channels: handing it to a sender would cost two thread
        switches and gain nothing.
        Its outcome is written at once; those of many rows a batch at a time. Rows that
        carry a code go first (the pacer keeps that order under SMTP_RATE). A row to withhold
        waits as a send would, on a sender, never on this thread.
        """
        rows = sorted(rows, key=lambda row: row.priority)
        flags = [row.id in suppressed for row in rows]
        if len(rows) == 1 and not rows[0].withhold:
            self._deliver(rows[0], flags[0])
            return 1
        with self._outcomes.batching():
            return sum(1 for _ in self._pool.map(self._deliver, rows, flags))

    def stop(self) -> None:
        """Let the sends in flight finish; start no other."""
        self._pool.shutdown(wait=True)

    def close(self) -> None:
        """Close every channel (their connections to the providers), and stop the template
        render workers."""
        for sessions in self._sessions.values():
            sessions.close_idle()
        self._templates.close()
        self._keeper.close()

    @send_spans.traced
    def _deliver(self, row: claims.Claimed, suppressed: bool) -> None:
        now = utcnow()
        if self._outcomes.database_lost:
            self._outcomes.hand_back(row, now)
            return
        if row.expires_at is not None and row.expires_at <= now:
            self._outcomes.collect(
                Outcome(row, Ending.EXPIRED, 0, "horizon passed before delivery")
            )
            return
        if suppressed:
            self._outcomes.collect(
                Outcome(row, Ending.SUPPRESSED, 0, "address on the suppression list")
            )
            return
        if self._stopping.is_set() or not leases.covers_a_send(row, now, self.settings):
            self._outcomes.hand_back(row, now)
            return
        picked = self._providers.pick(row.channel, row.attempts)
        if picked is None:
            self._outcomes.hand_back(row, now)
            return
        provider, taken = picked
        send_spans.provider(provider.name)
        try:
            withhold = row.withhold or not self._may_send(row, now)
        except SQLAlchemyError:
            provider.untried()
            self._outcomes.hand_back(row, now)
            return
        if withhold:
            self._withhold(row, provider)
            return
        started = time.perf_counter()
        try:
            start_by = leases.start_by(row, self.settings)
            self._send(row, provider, taken, start_by=start_by, started=started)
        except Deferred as deferred:
            provider.untried()
            self._outcomes.hand_back(row, now, due=now + timedelta(seconds=deferred.retry_in))
        except SealedUnderOtherKey:
            provider.untried()
            self._hand_back_sealed(row, now)
        except TemplateError as exc:
            # An operator's template that fails, or goes past its budget, for this message:
            # the message dies with the file named; the others go on.
            provider.untried()
            log.warning("template failed", extra={"id": row.public_id, "error": str(exc)})
            self._outcomes.collect(self._failed(row, Verdict.PERMANENT, str(exc), _ms(started)))
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            log.exception("unexpected failure", extra={"id": row.public_id})
            provider.untried()
            bug = f"{type(exc).__name__}: {exc}"[:500]
            self._outcomes.collect(self._failed(row, Verdict.PERMANENT, bug, _ms(started)))
        finally:
            metrics.DELIVERY_SECONDS.labels(row.channel).observe(time.perf_counter() - started)
            self._heartbeat()

    def _may_send(self, row: claims.Claimed, now: datetime) -> bool:
        """Whether a row may go: a "no account" mail within its budget (StrangerMail)."""
        if row.purpose != Purpose.NO_ACCOUNT or row.channel != Channel.EMAIL:
            return True
        return self._strangers.may_send(now)

    def _withhold(self, row: claims.Claimed, provider: Provider) -> None:
        """End a row `withheld` in the time `provider` takes to accept a message, calling
        nothing: while the provider is paused it waits as the others do (`pick`), and a stop
        cuts the wait short."""
        provider.untried()
        started = time.perf_counter()
        self._stopping.wait(self._send_times.typical(provider.name))
        self._outcomes.collect(Outcome(row, Ending.WITHHELD, _ms(started)))
        self._heartbeat()

    def _hand_back_sealed(self, row: claims.Claimed, now: datetime) -> None:
        """A row this relay cannot open: nothing is wrong with the message, the relay holds the
        wrong keys (the API rotated to a key it lacks). It goes back untried for a relay that
        can, or ends `expired` at its horizon; never dead, never with a traceback. The relay
        refuses to start with such keys (keyring.admit): this is for one already running."""
        log.error(
            "secrets sealed under a key this relay does not hold: give it the API's "
            "SECRET_KEY (an older one in SECRET_KEY_FALLBACKS); message handed back",
            extra={"id": row.public_id},
        )
        due = now + timedelta(seconds=self.settings.relay_lease_seconds)
        self._outcomes.hand_back(row, now, due=due)

    def _judge(
        self, row: claims.Claimed, provider: Provider, failure: DeliveryFailure, ms: int
    ) -> None:
        """Record a failed send, and pause its provider when the failure is the provider's.

        The outcome is collected before the pause, so that a recount (a provider answering
        its first probe at once) finds it, written or waiting.
        """
        sessions = self._sessions[provider.name]
        verdict = provider.judge(failure, row.recipient)
        error = failure.description
        if verdict is not Verdict.PROVIDER_DOWN:
            deferral = self.settings.relay_deferral_floor if failure.deferred else 0.0
            floor = max(failure.retry_floor, deferral)
            failed = self._failed(row, verdict, error, ms, floor, failure.refusal)
            self._outcomes.collect(failed)
            provider.answered()
            return
        # The message waits for another provider, or else until just after the probe, which
        # is then the next due message: one the provider refuses for its own sake neither
        # stalls the others nor passes for a probe that failed.
        wait = provider.probe_backoff()
        due_in = 0.0 if self._providers.another_takes(row.channel, provider) else wait + PROBE_LEAD
        self._outcomes.collect(self._failed(row, verdict, error, ms, due_in))
        counted = partial(self._failed, row, Verdict.TRANSIENT, error, ms)
        provider.pause(error, wait, lambda: self._outcomes.recount(counted()))
        sessions.restart()
        sessions.close_idle()

    def _failed(
        self,
        row: claims.Claimed,
        verdict: Verdict,
        error: str,
        ms: int,
        floor: float = 0.0,
        refusal: Refusal | None = None,
    ) -> Outcome:
        """What a failed attempt does to its row.

        A provider's failure leaves the row due in `floor` seconds (at once, but for a failed
        probe's message): a fallback takes it, or it waits unclaimed until its provider is
        back, and it does not count as an attempt. A transient one is retried with backoff, no
        sooner than `floor` seconds (a deferral at RCPT or DATA: RELAY_DEFERRAL_FLOOR), never
        past the row's horizon.
        """
        if verdict is Verdict.PERMANENT:
            return Outcome(row, Ending.PERMANENT_ERROR, ms, error, refusal=refusal)
        if verdict is Verdict.PROVIDER_DOWN:
            return Outcome(row, Ending.PROVIDER_DOWN, ms, error, retry_in=floor)
        if row.attempts + 1 >= self.settings.relay_max_attempts:
            return Outcome(row, Ending.MAX_ATTEMPTS, ms, error)
        delay = retry_delay(
            row.attempts + 1,
            base=self.settings.relay_backoff_base,
            cap=self.settings.relay_backoff_cap,
        )
        delay = max(delay, floor)
        if row.expires_at is not None:
            delay = min(delay, max(0.0, (row.expires_at - utcnow()).total_seconds()))
        return Outcome(row, Ending.RETRY, ms, error, retry_in=delay)

    def _send(
        self, row: claims.Claimed, provider: Provider, taken: int, start_by: float, started: float
    ) -> None:
        """Send one row through one of `provider`'s sessions and collect its outcome.

        A failure is judged before its session is given back, and no session is lent once the
        provider has paused since `taken` (its `take`): a sender that took it before a pause,
        waiting or still composing, then opens none (a wrong password: a second failed AUTH).
        """
        message = compose(
            row,
            self._box,
            self.settings.mail_from,
            self._templates,
            self._strangers.unsubscribe_url,
            self._code_link,
        )
        sessions = self._sessions[provider.name]
        with self._keeper.holding(row):
            channel = sessions.borrow(
                start_by, lambda: not provider.paused_since(taken), row.priority
            )
            kept = False
            try:
                provider_id = channel.send(message, start_by)
            except DeliveryFailure as failure:
                # A refusal of this message alone leaves the session to its channel, which
                # keeps what still works (an SMTP session RSETs and takes the next message).
                kept = failure.verdict is not Verdict.PROVIDER_DOWN
                sessions.judge(failure, provider.name, channel)
                self._judge(row, provider, failure, _ms(started))
            else:
                kept = True
                sessions.accepted()
                provider.answered()
                self._send_times.accepted(provider.name, time.perf_counter() - started)
                sent = Outcome(row, Ending.SENT, _ms(started), provider_id=provider_id)
                self._outcomes.collect(sent)
            finally:
                # A paused provider keeps no session: its probe must not be one too many.
                sessions.give_back(channel, keep=kept and provider.usable)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
