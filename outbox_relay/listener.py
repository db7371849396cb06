"""PostgreSQL LISTEN: wakes the relay the moment a transaction queueing a message commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

from outbox_relay.backoff import until_connected
from shared.database_url import connect_arguments, driver_message
from shared.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# How often the listening thread looks up from the socket to see whether it should stop, and
# how often a relay standing by tries for the listen lock.
CHECK_SECONDS = 1.0
# One relay of a database listens: the one whose listening connection holds this session lock,
# which PostgreSQL frees when that session ends (a relay killed, a failover, a dropped link).
# Two int4 keys, a space apart from the throttles' bigint ones (shared/throttle.py); advisory
# locks are per database, so Outposts sharing a server each elect their own.
TAKE_LISTEN_LOCK = "SELECT pg_try_advisory_lock(1869903984, 1)"  # 1869903984: b"outp"


class Listener:
    """Calls `wake` on every NOTIFY, from its own thread, while it holds the listen lock (the
    other relays of the database stand by, polling); reconnects whenever the link drops."""

    def __init__(
        self,
        database_url: str,
        wake: Callable[[], None],
        stopping: threading.Event,
        poll_interval: float,
    ):
        self._arguments = connect_arguments(database_url)
        self._wake = wake
        self._stopping = stopping
        self._poll_interval = poll_interval
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self.listening = False

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread to notice the stop."""
        self._thread.join(timeout)

    def _run(self) -> None:
        until_connected(self._listen, self._stopping, _lost, (psycopg.Error,))

    def _listen(self) -> bool:
        """Listen once this relay holds the listen lock, until stopped (True) or the link drops
        (psycopg.Error)."""
        with psycopg.connect(autocommit=True, **self._arguments) as connection:
            if not self._take_lock(connection):
                return True
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            log.info("listening for new messages", extra={"channel": NOTIFY_CHANNEL})
            self.listening = True
            try:
                # Rows committed while nobody listened are due already: look at once.
                self._wake()
                while not self._stopping.is_set():
                    for _ in connection.notifies(timeout=CHECK_SECONDS):
                        self._wake()
            finally:
                self.listening = False
        return True

    def _take_lock(self, connection: psycopg.Connection[TupleRow]) -> bool:
        """Whether the listen lock was taken before the stop, trying every CHECK_SECONDS while
        another relay holds it."""
        standing_by = False
        while not self._stopping.is_set():
            if connection.execute(TAKE_LISTEN_LOCK).fetchone() == (True,):
                return True
            if not standing_by:
                standing_by = True
                log.info(
                    "another relay listens; standing by, polling",
                    extra={"poll_interval_s": self._poll_interval},
                )
            self._stopping.wait(CHECK_SECONDS)
        return False


def _lost(exc: Exception, retry_in: float) -> None:
    log.warning(
        "listen connection lost; polling only until it is back",
        extra={"error": driver_message(exc), "retry_in_s": retry_in},
    )
