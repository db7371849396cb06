"""The relay as a daemon: wakes on NOTIFY or every poll interval, speaks sd_notify to systemd."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import metrics
from outbox_relay.backoff import until_connected
from outbox_relay.bounce_mailbox import INTERVAL_SECONDS, read_mailbox
from outbox_relay.listener import Listener
from outbox_relay.relay import Relay
from outbox_relay.systemd import notify
from outbox_relay.wake import Wake
from shared import operations
from shared.clock import utcnow
from shared.database import keyring
from shared.database.bounds import OPERATOR_TIMEOUT
from shared.database.db import engine_for, schema_behind
from shared.messaging import suppressions
from shared.runtime.version import version
from shared.settings.database_url import driver_message, refused_for_good

log = logging.getLogger(__name__)

# Seconds between backlog reports (metrics gauges and systemd STATUS).
STATUS_INTERVAL = 5.0
# Seconds after start before the first daily purge: not in the way of a restart's catch-up.
PURGE_DELAY = 300.0
# How far each try to reach the database before READY=1 extends systemd's start timeout
# (EXTEND_TIMEOUT_USEC): past the longest wait between two tries (RECONNECT_CAP) plus one try's
# own bound (PostgreSQL's connect_timeout, 5 s a host), so a relay waiting is never killed.
START_EXTENSION = 60.0


class Daemon:
    """Runs a Relay until SIGTERM: wakes on NOTIFY, on `wake` (which the relay was given to
    set) or every poll interval, speaks sd_notify."""

    def __init__(self, relay: Relay, wake: Wake) -> None:
        self.relay = relay
        self._wake = wake
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._listener: Listener | None = None
        listen_url = relay.settings.relay_listen_url
        if relay.engine.dialect.name == "postgresql" and listen_url is not None:
            self._listener = Listener(
                listen_url, self._wake.set, relay.stopping, relay.settings.relay_poll_interval
            )

    def wait_for_database(self) -> None:
        """Block until the database answers (or stop is asked), logging while it does not.

        A relay waiting for its database is alive: it pets the watchdog at each try and says
        why it waits, so that systemd does not kill it (and the outcomes it holds) meanwhile.
        """
        until_connected(
            self._database_answers, self.relay.stopping, _waiting, (SQLAlchemyError, SchemaBehind)
        )

    def _database_answers(self) -> bool:
        """Whether the database is ready for this relay; KeysMismatch if its keys cannot open
        what the API seals (before anything is claimed), DatabaseRefused if it refuses the
        role, its password or the database name, which waiting cannot heal."""
        try:
            behind = schema_behind(self.relay.engine)
        except SQLAlchemyError as exc:
            refused = refused_for_good("DATABASE_URL", exc)
            if refused is not None:
                raise refused from None
            raise
        if behind:
            raise SchemaBehind
        with self.relay.engine.begin() as connection:
            keyring.admit(connection, self.relay.settings.secret_keys, utcnow(), seals=False)
        return True

    def run(self) -> None:
        """Deliver until `stop`; in-flight rows finish, unstarted ones are released."""
        self.wait_for_database()
        if self.relay.stopping.is_set():
            return
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
        mailbox = self.relay.settings.bounce_mailbox
        if mailbox is not None:
            self._scheduler.add_job(
                read_mailbox,
                "interval",
                args=(self.relay.engine, self.relay.settings, mailbox),
                seconds=INTERVAL_SECONDS,
                next_run_time=datetime.now(),
                max_instances=1,
                coalesce=True,
                id="bounce_mailbox",
            )
        self._scheduler.start()
        notify("READY=1", "STATUS=ready")
        wake_ups = "notify" if self._listener else "polling"
        log.info("relay ready", extra={"wake_ups": wake_ups, "version": version()})
        while not self.relay.stopping.is_set():
            self.poll()
            self._sleep()
        if self._listener is not None:
            self._listener.close()
        notify("STOPPING=1")
        log.info("relay stopping: finishing in-flight messages")
        self._scheduler.shutdown(wait=True)
        self.relay.close()
        self.relay.providers.join(timeout=5)
        log.info("relay stopped")

    def stop(self) -> None:
        """Ask the loop to stop; from a signal handler only while the loop runs on another
        thread (see foreground.run): it sets Events the loop waits on."""
        self.relay.stopping.set()
        self._wake.set()

    def poll(self) -> None:
        """Deliver what is due; each claim and outcome on the way tells the watchdog all is well.

        A poll the database fails still pets the watchdog: the loop runs, and waits for it.
        """
        try:
            self.relay.deliver_due()
        except SQLAlchemyError as exc:
            notify("WATCHDOG=1", "STATUS=waiting for the database")
            log.warning("poll failed, database unavailable", extra={"error": driver_message(exc)})

    def _sleep(self) -> None:
        """Until woken, a NOTIFY comes (on the listening connection, if this relay listens) or
        the next poll is due."""
        listener = self._listener
        self._wake.wait(self._next_poll_in(), also=None if listener is None else listener.fileno())
        if listener is not None:
            listener.drain()

    def _next_poll_in(self) -> float:
        """Until the poll interval ends, or sooner when outcomes are waiting to be written."""
        interval = self.relay.settings.relay_poll_interval
        write_in = self.relay.outcomes.next_write_in()
        return interval if write_in is None else min(interval, write_in)

    def purge(self) -> None:
        """The daily retention job: delete what has outlived its window, on an engine of its
        own whose bound is an operator's, not a poll's; it stops between two batches when the
        relay stops."""
        engine = engine_for(self.relay.settings, timeout=OPERATOR_TIMEOUT)
        try:
            with engine.connect() as connection:
                purged = operations.purge(
                    connection,
                    self.relay.settings,
                    actor="relay:retention",
                    now=utcnow(),
                    rest=lambda seconds: not self.relay.stopping.wait(seconds),
                )
        except SQLAlchemyError as exc:
            log.warning("purge failed, database unavailable", extra={"error": driver_message(exc)})
            return
        finally:
            engine.dispose()
        log.info("purged", extra=asdict(purged))

    def report(self) -> None:
        """Publish the backlog and whether the relay listens to the metrics and systemd's STATUS;
        fold the tallies the figures add up (shared/operations/tallies.py) meanwhile."""
        listening = self._listener is not None and self._listener.listening
        metrics.LISTENING.set(listening)
        try:
            with self.relay.engine.begin() as connection:
                operations.fold_tallies(connection, utcnow())
                backlog = operations.backlog(connection, utcnow())
                suppressed = suppressions.count(connection)
                unresolved = operations.count_dead(connection, operations.DeadFilter())
        except SQLAlchemyError as exc:
            notify("STATUS=database unavailable")
            log.warning(
                "backlog unknown, database unavailable", extra={"error": driver_message(exc)}
            )
            metrics.backlog_unknown()
            return
        metrics.PENDING.set(backlog.pending)
        metrics.SUPPRESSED.set(suppressed)
        metrics.DEAD_UNRESOLVED.set(unresolved)
        metrics.OLDEST_DUE_AGE.set(backlog.oldest_due_age)
        status = (
            f"backlog {backlog.pending} pending, {backlog.due} due, "
            f"oldest due {backlog.oldest_due_age:.0f}s"
        )
        interval = self.relay.settings.relay_poll_interval
        wake_ups = "listening" if listening else f"polling every {interval:g}s"
        notify("STATUS=" + "; ".join([*self.relay.providers.status(), status, wake_ups]))


class SchemaBehind(Exception):
    """The database answers, but its migrations are older than this relay's."""


def _waiting(exc: Exception, retry_in: float) -> None:
    """A relay waiting for its database pets the watchdog, extends systemd's start timeout and
    says why it waits."""
    behind = isinstance(exc, SchemaBehind)
    status = (
        "the database schema: run `outpost migrate`"
        if behind
        else f"the database: {driver_message(exc)}"
    )
    notify(
        "WATCHDOG=1",
        f"EXTEND_TIMEOUT_USEC={int(START_EXTENSION * 1_000_000)}",
        f"STATUS=waiting for {status}",
    )
    if behind:
        log.warning(
            "database schema not current: run `outpost migrate`", extra={"retry_in_s": retry_in}
        )
        return
    log.warning(
        "database unavailable", extra={"error": driver_message(exc), "retry_in_s": retry_in}
    )
