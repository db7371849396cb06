"""The relay loop: a scheduled poll claims batches, a pool of senders delivers them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import store
from outbox_relay.backoff import retry_delay
from outbox_relay.channels import Channel
from outbox_relay.channels.sms import SmsGatewayChannel, SmsLogChannel
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.compose import compose
from outbox_relay.failures import DeliveryFailure, PermanentFailure
from outbox_relay.systemd import notify
from shared.clock import utcnow
from shared.config import Settings
from shared.secretbox import SecretBox

log = logging.getLogger(__name__)

ChannelFactory = Callable[[str], Channel]


def default_channels(settings: Settings) -> ChannelFactory:
    """Build the channel for `email` or `sms` from the settings."""

    def build(kind: str) -> Channel:
        if kind == "email":
            return SmtpChannel(settings.smtp)
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
            store.mark_dead(
                self.engine,
                row,
                store.Attempt("expired", now, 0, "code expired before delivery"),
                "expired",
            )
            log.info("outbox id=%s purpose=%s outcome=expired", row.public_id, row.purpose)
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
            log.exception("outbox id=%s failed unexpectedly", row.public_id)
            self._failed(row, PermanentFailure(f"{type(exc).__name__}: {exc}"[:500]), now, started)
        else:
            kept = store.mark_sent(self.engine, row, store.Attempt("sent", now, _ms(started)))
            log.info(
                "outbox id=%s channel=%s purpose=%s outcome=sent ms=%d%s",
                row.public_id,
                row.channel,
                row.purpose,
                _ms(started),
                "" if kept else " lease=lost",
            )

    def _failed(
        self, row: store.Claimed, failure: DeliveryFailure, now: datetime, started: float
    ) -> None:
        attempt = store.Attempt(
            "permanent" if failure.permanent else "transient",
            now,
            _ms(started),
            failure.description,
        )
        if failure.permanent:
            store.mark_dead(self.engine, row, attempt, "permanent_error")
            outcome = "dead:permanent_error"
        elif row.attempts + 1 >= self.settings.relay_max_attempts:
            store.mark_dead(self.engine, row, attempt, "max_attempts")
            outcome = "dead:max_attempts"
        else:
            delay = retry_delay(
                row.attempts + 1,
                base=self.settings.relay_backoff_base,
                cap=self.settings.relay_backoff_cap,
            )
            store.mark_retry(self.engine, row, attempt, utcnow() + timedelta(seconds=delay))
            outcome = f"retry_in={delay:.1f}s"
        log.warning(
            "outbox id=%s channel=%s purpose=%s attempt=%d outcome=%s error=%s",
            row.public_id,
            row.channel,
            row.purpose,
            row.attempts + 1,
            outcome,
            failure.description,
        )

    def _lease_covers_a_send(self, row: store.Claimed, now: datetime) -> bool:
        """Whether a send that hits its timeout still ends before the lease lapses."""
        return (row.locked_until - now).total_seconds() > self.settings.smtp.timeout + 1

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
    """Runs a Relay under APScheduler until SIGTERM, speaking sd_notify throughout."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._scheduler = BackgroundScheduler(timezone="UTC")

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
                    "database unavailable (%s); retrying in %.1fs", type(exc).__name__, delay
                )
                self.relay.stopping.wait(delay)
                delay = min(delay * 2, 10.0)

    def run(self) -> None:
        """Poll until `stop`; in-flight rows finish, unstarted ones are released."""
        self.wait_for_database()
        if self.relay.stopping.is_set():
            return
        self._scheduler.add_job(
            self.poll,
            "interval",
            seconds=self.relay.settings.relay_poll_interval,
            next_run_time=datetime.now(),
            max_instances=1,
            coalesce=True,
            id="poll",
        )
        self._scheduler.start()
        notify("READY=1", "STATUS=polling")
        log.info("relay ready")
        self.relay.stopping.wait()
        notify("STOPPING=1")
        log.info("relay stopping: finishing in-flight messages")
        self._scheduler.shutdown(wait=True)
        self.relay.close()
        log.info("relay stopped")

    def stop(self) -> None:
        """Ask the loop to stop; safe from a signal handler."""
        self.relay.stopping.set()

    def poll(self) -> None:
        """One scheduled poll: drain what is due, then tell the watchdog we are healthy."""
        try:
            handled = self.relay.drain()
        except SQLAlchemyError as exc:
            log.warning("poll failed, database unavailable: %s", type(exc).__name__)
            return
        notify("WATCHDOG=1", f"STATUS=polling; last poll handled {handled}")
