"""The relay: claims batches of due rows, and a pool of senders delivers them through the
providers that are up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from queue import LifoQueue

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import metrics, store
from outbox_relay.backoff import retry_delay
from outbox_relay.channels import Channel
from outbox_relay.channels.factory import ChannelFactory, default_channels
from outbox_relay.compose import compose, envelope_sender
from outbox_relay.failures import Deferred, DeliveryFailure, Verdict
from outbox_relay.outcomes import Outcome, OutcomeBook
from outbox_relay.pacing import Pacer
from outbox_relay.providers import Provider, Providers
from shared.accounts import user_by_id
from shared.clock import utcnow
from shared.config import Settings
from shared.events import emit
from shared.outbox import WEBHOOK, failure_reason
from shared.secretbox import SecretBox
from shared.suppressions import Suppressor

log = logging.getLogger(__name__)

__all__ = ["Relay", "default_channels"]


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
        pooled = settings.database_pooler == "transaction"
        store.prepare(engine, transaction_pooler=pooled)
        self._claimer = store.Claimer(engine, transaction_pooler=pooled)
        self._box = SecretBox(settings.secret_key)
        self._suppressor = Suppressor(settings.secret_key)
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
        self._pool = ThreadPoolExecutor(
            max_workers=settings.relay_concurrency, thread_name_prefix="sender"
        )
        # Called whenever the relay makes progress (a claim, an outcome written).
        self.heartbeat: Callable[[], None] = lambda: None
        self.outcomes = OutcomeBook(
            engine,
            settings.relay_batch_size,
            heartbeat=lambda: self.heartbeat(),
            on_dead=self._after_deaths,
        )

    def drain(self) -> int:
        """Deliver everything due and write every outcome; the number of rows handled."""
        handled = self.deliver_due()
        self.outcomes.flush()
        return handled

    def deliver_due(self) -> int:
        """Claim and deliver batches until nothing is due; the number of rows handled.

        Outcomes are written together, once a batch of them is waiting or FLUSH_SECONDS after
        the previous write, rather than after each claim: a relay fed one message at a time
        then writes a few times a second instead of once a message. `outcomes.next_write_in`
        says when those still waiting are due.
        """
        handled = 0
        try:
            self.outcomes.settle_backlog()
            while not self.stopping.is_set():
                # Outcomes waiting to be written and rows claimed never add up to more than a
                # batch, so that a crash repeats at most a batch of sends.
                limit = self.settings.relay_batch_size - self.outcomes.waiting()
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
                self.outcomes.settle_backlog()
                if len(rows) < limit:
                    break
        finally:
            # Even when the database failed: outcomes due are written now or kept for its
            # return, never left due, which would have the daemon poll again at once.
            if self.outcomes.next_write_in() == 0.0:
                self.outcomes.flush()
        return handled

    def _deliver_all(self, rows: list[store.Claimed]) -> int:
        """Deliver a claim's rows with the senders; how many.

        A lone row, what a relay woken for each new message claims, is delivered on this
        thread with a sender's channels: handing it to a sender would cost two thread
        switches and gain nothing (1.96 → 1.83 ms of relay CPU a message at 50 a second).
        """
        suppressed = self._suppressed(rows)
        flags = [row.recipient in suppressed for row in rows]
        if len(rows) == 1:
            self._deliver(rows[0], flags[0])
            return 1
        return sum(1 for _ in self._pool.map(self._deliver, rows, flags))

    def _suppressed(self, rows: list[store.Claimed]) -> set[str]:
        """The claimed rows' recipients on the suppression list (events have none)."""
        addresses = {row.recipient for row in rows if row.channel != WEBHOOK}
        if not addresses:
            return set()
        with self.engine.connect() as connection:
            return self._suppressor.among(connection, addresses)

    def close(self) -> None:
        """Stop the senders, write what can still be written, close the connections."""
        self._pool.shutdown(wait=True)
        self.outcomes.flush()
        try:
            self.outcomes.settle_backlog()
        except SQLAlchemyError:
            log.warning(
                "outcomes not recorded; their rows come back once their lease lapses",
                extra={"rows": self.outcomes.held()},
            )
        for channel_set in self._channel_sets:
            for channel in channel_set.values():
                channel.close()
        self._claimer.close()

    def _deliver(self, row: store.Claimed, suppressed: bool = False) -> None:
        now = utcnow()
        if self.outcomes.database_lost:
            self.outcomes.hand_back(row, now)
            return
        if row.expires_at is not None and row.expires_at <= now:
            self.outcomes.collect(Outcome(row, "expired", 0, "horizon passed before delivery"))
            return
        if suppressed:
            self.outcomes.collect(Outcome(row, "suppressed", 0, "address on the suppression list"))
            return
        if self.stopping.is_set() or not self._lease_covers_a_send(row, now):
            self.outcomes.hand_back(row, now)
            return
        provider = self.providers.pick(row.channel, row.attempts)
        if provider is None:
            self.outcomes.hand_back(row, now)
            return
        started = time.perf_counter()
        try:
            provider_id = self._send(row, provider, start_by=self._start_by(row, now))
        except Deferred as deferred:
            self.outcomes.hand_back(row, now, due=now + timedelta(seconds=deferred.retry_in))
        except DeliveryFailure as failure:
            verdict = provider.judge(failure, row.recipient)
            if verdict is Verdict.PROVIDER_DOWN:
                provider.pause(failure.description)
            else:
                provider.answered()
            self.outcomes.collect(self._failed(row, verdict, failure.description, _ms(started)))
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            log.exception("unexpected failure", extra={"id": row.public_id})
            bug = f"{type(exc).__name__}: {exc}"[:500]
            self.outcomes.collect(self._failed(row, Verdict.PERMANENT, bug, _ms(started)))
        else:
            provider.answered()
            self.outcomes.collect(Outcome(row, "sent", _ms(started), provider_id=provider_id))
        finally:
            metrics.DELIVERY_SECONDS.labels(row.channel).observe(time.perf_counter() - started)
            self.heartbeat()

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

    def _after_deaths(self, connection: Connection, dead: list[store.Mark]) -> None:
        """In the transaction that marks messages dead: suppress an address refused as such
        (5.1.x: the message itself stays `permanent_error`), and tell the application of each
        death (`delivery.failed`), never of an event's own."""
        now = utcnow()
        for one in dead:
            row = one.row
            if row.channel == WEBHOOK:
                continue
            reason = failure_reason(one.dead_reason, one.attempt.error)
            if one.dead_reason == "permanent_error" and reason == "address_rejected":
                self._suppressor.add(
                    connection, row.recipient, reason="rejected", source="smtp", now=now
                )
            if row.user_id is None:
                continue
            user = user_by_id(connection, row.user_id)
            emit(
                connection,
                self.settings,
                self._box,
                now=now,
                event="delivery.failed",
                user_id=row.user_id,
                email=user.email if user else None,
                phone=user.phone if user else None,
                delivery_id=row.public_id,
                channel=row.channel,
                purpose=row.purpose,
                reason=reason,
            )

    def _lease_covers_a_send(self, row: store.Claimed, now: datetime) -> bool:
        """Whether a send that hits its timeout still ends before the lease lapses."""
        return (row.locked_until - now).total_seconds() > self.settings.longest_send + 1

    def _start_by(self, row: store.Claimed, now: datetime) -> float:
        """The last moment (time.monotonic) a send of `row` may start and end in its lease."""
        left = (row.locked_until - now).total_seconds() - self.settings.longest_send - 1
        return time.monotonic() + left

    def _send(self, row: store.Claimed, provider: Provider, *, start_by: float) -> str | None:
        """Send one row through `provider` with a set of channels no other thread uses; the
        provider's id of the message, if it gave one."""
        channels = self._idle_channel_sets.get()
        try:
            if provider.name not in channels:
                channels[provider.name] = self._make_channel(provider.name)
            message = compose(row, self._box, self.settings.mail_from)
            return channels[provider.name].send(message, start_by)
        finally:
            self._idle_channel_sets.put(channels)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
