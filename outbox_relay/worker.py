"""The relay loop: a scheduled poll claims batches, a pool of senders delivers them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
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
from shared.clock import utcnow
from shared.config import Settings
from shared.secretbox import SecretBox

log = logging.getLogger(__name__)

# Seconds between backlog reports (metrics gauges and systemd STATUS).
STATUS_INTERVAL = 5.0

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
        self._box = SecretBox(settings.secret_key)
        self._make_channel = channels or default_channels(settings)
        self._local = threading.local()
        self._opened: list[Channel] = []
        self._opened_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.relay_concurrency, thread_name_prefix="sender"
        )
        self.stopping = threading.Event()

    def drain(self) -> int:
        """Claim and deliver batches until nothing is due; the number of rows handled."""
        handled = 0
        while not self.stopping.is_set():
            rows = store.claim(
                self.engine,
                now=utcnow(),
                limit=self.settings.relay_batch_size,
                lease_seconds=self.settings.relay_lease_seconds,
            )
            if not rows:
                break
            for _ in self._pool.map(self._deliver, rows):
                handled += 1
            if len(rows) < self.settings.relay_batch_size:
                break
        return handled

    def close(self) -> None:
        """Stop the senders and close their connections."""
        self._pool.shutdown(wait=True)
        with self._opened_lock:
            for channel in self._opened:
                channel.close()
            self._opened.clear()

    def _deliver(self, row: store.Claimed) -> None:
        now = utcnow()
        if row.expires_at is not None and row.expires_at <= now:
            attempt = store.Attempt("expired", now, 0, "code expired before delivery")
            self._record(row, store.mark_dead(self.engine, row, attempt, "expired"), "expired", 0)
            return
        if self.stopping.is_set() or not self._lease_covers_a_send(row, now):
            store.release(self.engine, [row], now)
            return
        started = time.perf_counter()
        try:
            self._channel(row.channel).send(compose(row, self._box, self.settings.mail_from))
        except DeliveryFailure as failure:
            self._failed(row, failure, now, started)
        except Exception as exc:  # a bug or bad data must not kill the sender thread
            log.exception("unexpected failure", extra={"id": row.public_id})
            self._failed(row, PermanentFailure(f"{type(exc).__name__}: {exc}"[:500]), now, started)
        else:
            kept = store.mark_sent(self.engine, row, store.Attempt("sent", now, _ms(started)))
            self._record(row, kept, "sent", _ms(started))
        finally:
            metrics.DELIVERY_SECONDS.labels(row.channel).observe(time.perf_counter() - started)

    def _failed(
        self, row: store.Claimed, failure: DeliveryFailure, now: datetime, started: float
    ) -> None:
        attempt = store.Attempt(
            "permanent" if failure.permanent else "transient",
            now,
            _ms(started),
            failure.description,
        )
        retry_in: float | None = None
        if failure.permanent:
            outcome = "permanent_error"
            kept = store.mark_dead(self.engine, row, attempt, outcome)
        elif row.attempts + 1 >= self.settings.relay_max_attempts:
            outcome = "max_attempts"
            kept = store.mark_dead(self.engine, row, attempt, outcome)
        else:
            outcome = "retry"
            retry_in = retry_delay(
                row.attempts + 1,
                base=self.settings.relay_backoff_base,
                cap=self.settings.relay_backoff_cap,
            )
            kept = store.mark_retry(
                self.engine, row, attempt, utcnow() + timedelta(seconds=retry_in)
            )
        self._record(row, kept, outcome, _ms(started), error=failure.description, retry_in=retry_in)

    def _record(
        self, row: store.Claimed, kept: bool, outcome: str, ms: int, **details: Any
    ) -> None:
        """Count and log the outcome of one attempt; `kept` False means our lease was lost."""
        metrics.MESSAGES.labels(row.channel, outcome).inc()
        fields = {
            "id": row.public_id,
            "channel": row.channel,
            "purpose": row.purpose,
            "attempt": row.attempts + 1,
            "outcome": outcome,
            "ms": ms,
            "lease_lost": not kept,
            **{key: value for key, value in details.items() if value is not None},
        }
        level = logging.INFO if outcome == "sent" and kept else logging.WARNING
        log.log(level, "delivery %s", outcome, extra=fields)

    def _lease_covers_a_send(self, row: store.Claimed, now: datetime) -> bool:
        """Whether a send that hits its timeout still ends before the lease lapses."""
        return (row.locked_until - now).total_seconds() > self.settings.longest_send + 1

    def _channel(self, kind: str) -> Channel:
        channels: dict[str, Channel] = self._local.__dict__.setdefault("channels", {})
        if kind not in channels:
            channels[kind] = self._make_channel(kind)
            with self._opened_lock:
                self._opened.append(channels[kind])
        return channels[kind]


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class Daemon:
    """Runs a Relay until SIGTERM: wakes on NOTIFY or every poll interval, speaks sd_notify."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._wake = threading.Event()
        self._scheduler = BackgroundScheduler(timezone="UTC")
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
        self._scheduler.start()
        notify("READY=1", "STATUS=ready")
        log.info("relay ready", extra={"wake_ups": "notify" if self._listener else "polling"})
        while not self.relay.stopping.is_set():
            self.poll()
            self._wake.wait(self.relay.settings.relay_poll_interval)
            self._wake.clear()
        notify("STOPPING=1")
        log.info("relay stopping: finishing in-flight messages")
        self._scheduler.shutdown(wait=True)
        self.relay.close()
        if self._listener is not None:
            self._listener.join(timeout=5)
        log.info("relay stopped")

    def stop(self) -> None:
        """Ask the loop to stop; safe from a signal handler."""
        self.relay.stopping.set()
        self._wake.set()

    def poll(self) -> None:
        """Drain what is due, then tell the watchdog we are healthy."""
        try:
            handled = self.relay.drain()
        except SQLAlchemyError as exc:
            log.warning("poll failed, database unavailable", extra={"error": type(exc).__name__})
            return
        metrics.LAST_POLL.set_to_current_time()
        notify("WATCHDOG=1")
        if handled:
            log.debug("poll handled rows", extra={"handled": handled})

    def report(self) -> None:
        """Publish the backlog to the metrics and to systemd's STATUS."""
        try:
            backlog = store.backlog(self.relay.engine, utcnow())
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
