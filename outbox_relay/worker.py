"""The relay: claims batches of due rows, and a pool of senders delivers them through the
providers that are up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import LifoQueue
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import metrics, store
from outbox_relay.backoff import retry_delay
from outbox_relay.channels import Channel
from outbox_relay.channels.factory import ChannelFactory, default_channels
from outbox_relay.compose import compose, envelope_sender
from outbox_relay.failures import Deferred, DeliveryFailure, Verdict
from outbox_relay.pacing import Pacer
from outbox_relay.providers import Provider, Providers
from shared.clock import utcnow
from shared.config import Settings
from shared.secretbox import SecretBox

log = logging.getLogger(__name__)

# Longest an outcome waits to be written with others: far below any lease. No more than a
# batch of outcomes ever waits either (see deliver_due for what a crash repeats).
FLUSH_SECONDS = 0.5
__all__ = ["Outcome", "Relay", "default_channels"]


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt, waiting to be written to its row."""

    row: store.Claimed
    name: str  # sent, retry, provider_down, permanent_error, max_attempts or expired
    ms: int
    error: str | None = None
    retry_in: float | None = None


# The outcome recorded in outbox_attempts for each way a row can end an attempt.
ATTEMPT_OUTCOME = {
    "sent": "sent",
    "retry": "transient",
    "provider_down": "provider_down",
    "max_attempts": "transient",
    "permanent_error": "permanent",
    "expired": "expired",
}


class Relay:
    """Claims due rows and delivers each with one of `concurrency` senders.

    Each sender uses the first provider of the row's channel that is up. A failure that is the
    provider's pauses it for every sender (providers.Provider) and the row waits, due again at
    once for a fallback; while no provider of a channel is up, its rows are not claimed.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        channels: ChannelFactory | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        store.prepare(engine)
        self._claimer = store.Claimer(engine)
        self._box = SecretBox(settings.secret_key)
        pacer = Pacer(engine, settings.smtp_rate) if settings.smtp_rate else None
        self._make_channel = channels or default_channels(settings, pacer.pace if pacer else None)
        self.stopping = threading.Event()
        # Called when a provider is paused or back, so a waiting daemon claims at once.
        self.wake: Callable[[], None] = lambda: None
        self.providers = Providers(
            settings,
            self._make_channel,
            probe_sender=envelope_sender(settings.mail_from),
            stopping=self.stopping,
            on_change=lambda: self.wake(),
        )
        # One set of channels (so one SMTP connection) per sender, lent to whichever thread
        # delivers; the set used last goes out first, so a trickle keeps one connection warm.
        self._channel_sets: list[dict[str, Channel]] = [
            {} for _ in range(settings.relay_concurrency)
        ]
        self._idle_channel_sets: LifoQueue[dict[str, Channel]] = LifoQueue()
        for channel_set in self._channel_sets:
            self._idle_channel_sets.put(channel_set)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.relay_concurrency, thread_name_prefix="sender"
        )
        # Called whenever the relay makes progress (a claim, an outcome written).
        self.heartbeat: Callable[[], None] = lambda: None
        # Outcomes the database could not take when they happened, written when it is back,
        # and rows left untried meanwhile, handed back then.
        self._unsettled: list[Outcome] = []
        self._untried: list[store.Claimed] = []
        self._database_lost = threading.Event()
        # Outcomes not yet written: written together once a batch of them waits, and at the
        # latest FLUSH_SECONDS after the previous write, so that no lease runs out meanwhile.
        self._collected: list[Outcome] = []
        self._last_flush = time.monotonic()

    def drain(self) -> int:
        """Deliver everything due and write every outcome; the number of rows handled."""
        handled = self.deliver_due()
        self._flush()
        return handled

    def deliver_due(self) -> int:
        """Claim and deliver batches until nothing is due; the number of rows handled.

        Outcomes are written together, once a batch of them is waiting or FLUSH_SECONDS after
        the previous write, rather than after each claim: a relay fed one message at a time
        then writes a few times a second instead of once a message. `next_write_in` says when
        those still waiting are due.
        """
        handled = 0
        try:
            self.settle_backlog()
            while not self.stopping.is_set():
                # Outcomes waiting to be written and rows claimed never add up to more than a
                # batch, so that a crash repeats at most a batch of sends.
                limit = self.settings.relay_batch_size - self._waiting()
                rows = self._claimer.claim(
                    now=utcnow(),
                    limit=limit,
                    lease_seconds=self.settings.relay_lease_seconds,
                    paused=self.providers.paused_channels(),
                )
                self.heartbeat()
                if not rows:
                    break
                handled += self._deliver_all(rows)
                self.settle_backlog()
                if len(rows) < limit:
                    break
        finally:
            # Even when the database failed: outcomes due are written now or kept for its
            # return, never left due, which would have the daemon poll again at once.
            if self.next_write_in() == 0.0:
                self._flush()
        return handled

    def _deliver_all(self, rows: list[store.Claimed]) -> int:
        """Deliver a claim's rows with the senders; how many.

        A lone row, what a relay woken for each new message claims, is delivered on this
        thread with a sender's channels: handing it to a sender would cost two thread
        switches and gain nothing (1.96 → 1.83 ms of relay CPU a message at 50 a second).
        """
        if len(rows) == 1:
            self._deliver(rows[0])
            return 1
        return sum(1 for _ in self._pool.map(self._deliver, rows))

    def _waiting(self) -> int:
        with self._lock:
            return len(self._collected)

    def next_write_in(self) -> float | None:
        """Seconds until the outcomes not yet written are due; None when there are none."""
        with self._lock:
            return self._write_in()

    def _write_in(self) -> float | None:
        if not self._collected:
            return None
        if len(self._collected) >= self.settings.relay_batch_size:
            return 0.0
        return max(0.0, FLUSH_SECONDS - (time.monotonic() - self._last_flush))

    def settle_backlog(self) -> None:
        """Write the outcomes kept while the database was away; raise if it still is.

        Each is written as of now, so one whose lease lapsed meanwhile changes nothing and its
        row is delivered again: at-least-once, never a mark without a lease.
        """
        with self._lock:
            waiting, self._unsettled = self._unsettled, []
            untried, self._untried = self._untried, []
        try:
            kept = self._write(waiting)
        except SQLAlchemyError:
            with self._lock:
                self._unsettled[:0] = waiting
                self._untried[:0] = untried
            raise
        for outcome in waiting:
            self._record(outcome, outcome.row.id in kept, late=True)
        try:
            store.release(self.engine, untried, utcnow())
        except SQLAlchemyError:
            with self._lock:
                self._untried[:0] = untried
            raise
        self._database_lost.clear()

    def close(self) -> None:
        """Stop the senders, write what can still be written, close the connections."""
        self._pool.shutdown(wait=True)
        self._flush()
        try:
            self.settle_backlog()
        except SQLAlchemyError:
            log.warning(
                "outcomes not recorded; their rows come back once their lease lapses",
                extra={"rows": len(self._unsettled) + len(self._untried)},
            )
        for channel_set in self._channel_sets:
            for channel in channel_set.values():
                channel.close()
        self._claimer.close()

    def _deliver(self, row: store.Claimed) -> None:
        if self._database_lost.is_set():
            with self._lock:
                self._untried.append(row)
            return
        now = utcnow()
        if row.expires_at is not None and row.expires_at <= now:
            self._collect(Outcome(row, "expired", 0, "horizon passed before delivery"))
            return
        if self.stopping.is_set() or not self._lease_covers_a_send(row, now):
            self._release(row, now)
            return
        provider = self.providers.pick(row.channel, row.attempts)
        if provider is None:
            self._release(row, now)
            return
        started = time.perf_counter()
        try:
            self._send(row, provider, start_by=self._start_by(row, now))
        except Deferred as deferred:
            self._release(row, now, due=now + timedelta(seconds=deferred.retry_in))
        except DeliveryFailure as failure:
            verdict = provider.judge(failure, row.recipient)
            if verdict is Verdict.PROVIDER_DOWN:
                provider.pause(failure.description)
            else:
                provider.answered()
            self._collect(self._failed(row, verdict, failure.description, _ms(started)))
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            log.exception("unexpected failure", extra={"id": row.public_id})
            bug = f"{type(exc).__name__}: {exc}"[:500]
            self._collect(self._failed(row, Verdict.PERMANENT, bug, _ms(started)))
        else:
            provider.answered()
            self._collect(Outcome(row, "sent", _ms(started)))
        finally:
            metrics.DELIVERY_SECONDS.labels(row.channel).observe(time.perf_counter() - started)
            self.heartbeat()

    def _release(self, row: store.Claimed, now: datetime, *, due: datetime | None = None) -> None:
        """Hand a row back untried, or keep it for when the database is back."""
        try:
            store.release(self.engine, [row], now, due=due)
        except SQLAlchemyError:
            self._database_lost.set()
            with self._lock:
                self._untried.append(row)

    def _failed(self, row: store.Claimed, verdict: Verdict, error: str, ms: int) -> Outcome:
        """What a failed attempt does to its row.

        A provider's failure leaves the row due at once: a fallback takes it, or it waits
        unclaimed until its provider is back, and it does not count as an attempt. A
        transient one is retried with backoff, never past the row's horizon.
        """
        if verdict is Verdict.PERMANENT:
            return Outcome(row, "permanent_error", ms, error)
        if verdict is Verdict.PROVIDER_DOWN:
            return Outcome(row, "provider_down", ms, error, retry_in=0.0)
        if row.attempts + 1 >= self.settings.relay_max_attempts:
            return Outcome(row, "max_attempts", ms, error)
        delay = retry_delay(
            row.attempts + 1,
            base=self.settings.relay_backoff_base,
            cap=self.settings.relay_backoff_cap,
        )
        if row.expires_at is not None:
            delay = min(delay, max(0.0, (row.expires_at - utcnow()).total_seconds()))
        return Outcome(row, "retry", ms, error, retry_in=delay)

    def _collect(self, outcome: Outcome) -> None:
        """Keep an outcome for the next write, and write now if that is due."""
        with self._lock:
            self._collected.append(outcome)
            if self._write_in() != 0.0:
                return
        self._flush()

    def _flush(self) -> None:
        """Write every collected outcome in one transaction."""
        with self._lock:
            outcomes, self._collected = self._collected, []
            self._last_flush = time.monotonic()
        if outcomes:
            self._settle(outcomes)

    def _settle(self, outcomes: list[Outcome]) -> None:
        """Write outcomes now, or keep them for when the database is back."""
        try:
            kept = self._write(outcomes)
        except SQLAlchemyError as exc:
            self._database_lost.set()
            with self._lock:
                self._unsettled.extend(outcomes)
            log.warning(
                "outcomes kept until the database is back",
                extra={"rows": len(outcomes), "error": type(exc).__name__},
            )
            return
        for outcome in outcomes:
            self._record(outcome, outcome.row.id in kept)

    def _write(self, outcomes: list[Outcome]) -> set[int]:
        """Write outcomes as of now; the ids of rows whose lease held (the others are unchanged)."""
        if not outcomes:
            return set()
        at = utcnow()
        marks = []
        for outcome in outcomes:
            attempt = store.Attempt(ATTEMPT_OUTCOME[outcome.name], at, outcome.ms, outcome.error)
            if outcome.retry_in is not None:
                retry_at = at + timedelta(seconds=outcome.retry_in or 0.0)
                marks.append(store.Mark(outcome.row, attempt, retry_at=retry_at))
            elif outcome.name == "sent":
                marks.append(store.Mark(outcome.row, attempt))
            else:
                marks.append(store.Mark(outcome.row, attempt, dead_reason=outcome.name))
        return store.mark(self.engine, marks, at)

    def _record(self, outcome: Outcome, kept: bool, *, late: bool = False) -> None:
        """Count and log one written outcome."""
        self.heartbeat()
        row = outcome.row
        metrics.MESSAGES.labels(row.channel, outcome.name).inc()
        fields: dict[str, Any] = {
            "id": row.public_id,
            "channel": row.channel,
            "purpose": row.purpose,
            "attempt": row.attempts + 1,
            "outcome": outcome.name,
            "ms": outcome.ms,
            "lease_lost": not kept,
        }
        if outcome.error is not None:
            fields["error"] = outcome.error
        if outcome.retry_in is not None:
            fields["retry_in_s"] = round(outcome.retry_in, 3)
        if late:
            fields["recorded_late"] = True
        level = logging.INFO if outcome.name == "sent" and kept else logging.WARNING
        log.log(level, "delivery %s", outcome.name, extra=fields)

    def _lease_covers_a_send(self, row: store.Claimed, now: datetime) -> bool:
        """Whether a send that hits its timeout still ends before the lease lapses."""
        return (row.locked_until - now).total_seconds() > self.settings.longest_send + 1

    def _start_by(self, row: store.Claimed, now: datetime) -> float:
        """The last moment (time.monotonic) a send of `row` may start and end in its lease."""
        left = (row.locked_until - now).total_seconds() - self.settings.longest_send - 1
        return time.monotonic() + left

    def _send(self, row: store.Claimed, provider: Provider, *, start_by: float) -> None:
        """Send one row through `provider` with a set of channels no other thread uses."""
        channels = self._idle_channel_sets.get()
        try:
            if provider.name not in channels:
                channels[provider.name] = self._make_channel(provider.name)
            message = compose(row, self._box, self.settings.mail_from)
            channels[provider.name].send(message, start_by)
        finally:
            self._idle_channel_sets.put(channels)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
