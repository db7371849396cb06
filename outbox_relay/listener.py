"""PostgreSQL LISTEN: wakes the relay the moment a transaction queueing a message commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from outbox_relay.backoff import until_connected
from shared.database_url import connect_arguments, driver_message
from shared.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# How often the listening thread looks up from the socket to see whether it should stop.
CHECK_SECONDS = 1.0


class Listener:
    """Calls `wake` on every NOTIFY, from its own thread, reconnecting whenever the link drops."""

    def __init__(self, database_url: str, wake: Callable[[], None], stopping: threading.Event):
        self._arguments = connect_arguments(database_url)
        self._wake = wake
        self._stopping = stopping
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread to notice the stop."""
        self._thread.join(timeout)

    def _run(self) -> None:
        until_connected(self._listen, self._stopping, _lost, (psycopg.Error,))

    def _listen(self) -> bool:
        """Listen until stopped (True) or the link drops (psycopg.Error)."""
        with psycopg.connect(autocommit=True, **self._arguments) as connection:
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            log.info("listening for new messages", extra={"channel": NOTIFY_CHANNEL})
            # Rows committed while nobody listened are due already: look at once.
            self._wake()
            while not self._stopping.is_set():
                for _ in connection.notifies(timeout=CHECK_SECONDS):
                    self._wake()
        return True


def _lost(exc: Exception, retry_in: float) -> None:
    log.warning(
        "listen connection lost; polling only until it is back",
        extra={"error": driver_message(exc), "retry_in_s": retry_in},
    )
