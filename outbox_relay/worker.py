"""The relay loop: a scheduled poll claims batches, a pool of senders delivers them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from queue import LifoQueue
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import metrics, store
from outbox_relay.backoff import retry_delay
from outbox_relay.channels import Channel
from outbox_relay.channels.fallback import FallbackChannel
from outbox_relay.channels.sms import SmsGatewayChannel, SmsLogChannel
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.compose import compose
from outbox_relay.failures import DeliveryFailure, PermanentFailure
from outbox_relay.listener import Listener
from outbox_relay.systemd import notify
from shared import operations
from shared.clock import utcnow
from shared.config import Settings
from shared.secretbox import SecretBox

log = logging.getLogger(__name__)

# Seconds between backlog reports (metrics gauges and systemd STATUS).
STATUS_INTERVAL = 5.0
# Longest an outcome waits to be written with others: far below any lease. No more than a
# batch of outcomes ever waits either (see deliver_due for what a crash repeats).
FLUSH_SECONDS = 0.5
# Seconds after start before the first daily purge: not in the way of a restart's catch-up.
PURGE_DELAY = 300.0

ChannelFactory = Callable[[str], Channel]


def default_channels(settings: Settings) -> ChannelFactory:
    """Build the channel for `email` or `sms` from the settings."""

    def build(kind: str) -> Channel:
        if kind == "email":
            if settings.smtp_fallback is None:
                return SmtpChannel(settings.smtp)
            return FallbackChannel(SmtpChannel(settings.smtp), SmtpChannel(settings.smtp_fallback))
        if settings.sms_url == "log:":
            return SmsLogChannel()
        return SmsGatewayChannel(settings.sms_url, settings.sms_token)

    return build


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt, waiting to be written to its row."""

    row: store.Claimed
    name: str  # sent, retry, permanent_error, max_attempts or expired
    ms: int
    error: str | None = None
    retry_in: float | None = None


# The outcome recorded in outbox_attempts for each way a row can end an attempt.
ATTEMPT_OUTCOME = {
    "sent": "sent",
    "retry": "transient",
    "max_attempts": "transient",
    "permanent_error": "permanent",
    "expired": "expired",
}


class Relay:
    """Claims due rows and delivers each with one of `concurrency` senders."""

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
        self._make_channel = channels or default_channels(settings)
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
        self.stopping = threading.Event()
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
                    now=utcnow(), limit=limit, lease_seconds=self.settings.relay_lease_seconds
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
            self._collect(Outcome(row, "expired", 0, "code expired before delivery"))
            return
        if self.stopping.is_set() or not self._lease_covers_a_send(row, now):
            try:
                store.release(self.engine, [row], now)
            except SQLAlchemyError:
                self._database_lost.set()
                with self._lock:
                    self._untried.append(row)
            return
        started = time.perf_counter()
        try:
            self._send(row)
        except DeliveryFailure as failure:
            self._collect(self._failed(row, failure, _ms(started)))
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            log.exception("unexpected failure", extra={"id": row.public_id})
            bug = PermanentFailure(f"{type(exc).__name__}: {exc}"[:500])
            self._collect(self._failed(row, bug, _ms(started)))
        else:
            self._collect(Outcome(row, "sent", _ms(started)))
        finally:
            metrics.DELIVERY_SECONDS.labels(row.channel).observe(time.perf_counter() - started)
            self.heartbeat()

    def _failed(self, row: store.Claimed, failure: DeliveryFailure, ms: int) -> Outcome:
        if failure.permanent:
            return Outcome(row, "permanent_error", ms, failure.description)
        if row.attempts + 1 >= self.settings.relay_max_attempts:
            return Outcome(row, "max_attempts", ms, failure.description)
        delay = retry_delay(
            row.attempts + 1,
            base=self.settings.relay_backoff_base,
            cap=self.settings.relay_backoff_cap,
        )
        return Outcome(row, "retry", ms, failure.description, retry_in=delay)

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
            if outcome.name == "retry":
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

    def _send(self, row: store.Claimed) -> None:
        """Send one row with a set of channels no other thread uses meanwhile."""
        channels = self._idle_channel_sets.get()
        try:
            if row.channel not in channels:
                channels[row.channel] = self._make_channel(row.channel)
            channels[row.channel].send(compose(row, self._box, self.settings.mail_from))
        finally:
            self._idle_channel_sets.put(channels)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class Daemon:
    """Runs a Relay until SIGTERM: wakes on NOTIFY or every poll interval, speaks sd_notify."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._wake = threading.Event()
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._last_beat = 0.0
        relay.heartbeat = self._beat
        self._listener: Listener | None = None
        if relay.engine.dialect.name == "postgresql":
            self._listener = Listener(relay.settings.database_url, self._wake.set, relay.stopping)

    def wait_for_database(self) -> None:
        """Block until the database answers (or stop is asked), logging while it does not."""
        delay = 0.5
        while not self.relay.stopping.is_set():
            try:
                with self.relay.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except SQLAlchemyError as exc:
                log.warning(
                    "database unavailable",
                    extra={"error": type(exc).__name__, "retry_in_s": delay},
                )
                self.relay.stopping.wait(delay)
                delay = min(delay * 2, 10.0)

    def run(self) -> None:
        """Deliver until `stop`; in-flight rows finish, unstarted ones are released."""
        self.wait_for_database()
        if self.relay.stopping.is_set():
            return
        metrics.serve(self.relay.settings.relay_metrics_port)
        if self._listener is not None:
            self._listener.start()
        self._scheduler.add_job(
            self.report,
            "interval",
            seconds=STATUS_INTERVAL,
            next_run_time=datetime.now(),
            max_instances=1,
            coalesce=True,
            id="status",
        )
        self._scheduler.add_job(
            self.purge,
            "interval",
            hours=24,
            next_run_time=datetime.now() + timedelta(seconds=PURGE_DELAY),
            max_instances=1,
            coalesce=True,
            id="purge",
        )
        self._scheduler.start()
        notify("READY=1", "STATUS=ready")
        log.info("relay ready", extra={"wake_ups": "notify" if self._listener else "polling"})
        while not self.relay.stopping.is_set():
            self.poll()
            self._wake.wait(self._next_poll_in())
            self._wake.clear()
        notify("STOPPING=1")
        log.info("relay stopping: finishing in-flight messages")
        self._scheduler.shutdown(wait=True)
        self.relay.close()
        if self._listener is not None:
            self._listener.join(timeout=5)
        log.info("relay stopped")

    def stop(self) -> None:
        """Ask the loop to stop; from a signal handler only while the loop runs on another
        thread (see cli.run): it sets Events the loop waits on."""
        self.relay.stopping.set()
        self._wake.set()

    def poll(self) -> None:
        """Deliver what is due; each claim and outcome on the way tells the watchdog all is well."""
        try:
            self.relay.deliver_due()
        except SQLAlchemyError as exc:
            log.warning("poll failed, database unavailable", extra={"error": type(exc).__name__})

    def _next_poll_in(self) -> float:
        """Until the poll interval ends, or sooner when outcomes are waiting to be written."""
        interval = self.relay.settings.relay_poll_interval
        write_in = self.relay.next_write_in()
        return interval if write_in is None else min(interval, write_in)

    def _beat(self) -> None:
        """A healthy step: record it, and pet systemd's watchdog at most once a second."""
        metrics.LAST_POLL.set_to_current_time()
        now = time.monotonic()
        if now - self._last_beat >= 1.0:
            self._last_beat = now
            notify("WATCHDOG=1")

    def purge(self) -> None:
        """The daily retention job: delete what has outlived its window."""
        try:
            with self.relay.engine.begin() as connection:
                purged = operations.purge(
                    connection, self.relay.settings, actor="relay:retention", now=utcnow()
                )
        except SQLAlchemyError as exc:
            log.warning("purge failed, database unavailable", extra={"error": type(exc).__name__})
            return
        log.info("purged", extra=asdict(purged))

    def report(self) -> None:
        """Publish the backlog to the metrics and to systemd's STATUS."""
        try:
            with self.relay.engine.connect() as connection:
                backlog = operations.backlog(connection, utcnow())
        except SQLAlchemyError as exc:
            notify("STATUS=database unavailable")
            log.warning(
                "backlog unknown, database unavailable", extra={"error": type(exc).__name__}
            )
            return
        metrics.PENDING.set(backlog.pending)
        metrics.OLDEST_DUE_AGE.set(backlog.oldest_due_age)
        notify(
            f"STATUS=backlog {backlog.pending} pending, {backlog.due} due, "
            f"oldest due {backlog.oldest_due_age:.0f}s"
        )
