"""PostgreSQL LISTEN: wakes the relay the moment a transaction queueing a message commits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

from outbox_relay.backoff import until_connected
from shared.messaging.outbox import NOTIFY_CHANNEL
from shared.settings.database_url import connect_arguments, driver_message

log = logging.getLogger(__name__)

# How often the listening thread looks up from the socket to see whether it should stop, and
# how often a relay standing by tries for the listen lock.
CHECK_SECONDS = 1.0
# One relay of a database listens: the one whose listening connection holds this session lock,
# which PostgreSQL frees when that session ends (a relay killed, a failover, a dropped link).
# Two int4 keys, a space apart from the throttles' bigint ones (shared/database/throttle.py);
# advisory locks are per database, so Outposts sharing a server each elect their own.
TAKE_LISTEN_LOCK = "SELECT pg_try_advisory_lock(1869903984, 1)"  # 1869903984: b"outp"


class Listener:
    """Holds the LISTEN connection while this relay holds the listen lock (the other relays of
    the database stand by, polling); its thread connects, takes the lock, listens and
    reconnects whenever the link drops.

    The daemon's loop waits on the connection itself (`fileno`) and reads what woke it
    (`drain`): a NOTIFY then wakes the loop directly. `wake` is called when listening starts,
    so that the loop looks at once and waits on the new connection from then on.
    """

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
        self._connection: psycopg.Connection[TupleRow] | None = None
        # Set by the loop when the link dropped, or once the loop is done with the connection.
        self._released = threading.Event()
        self._lost: psycopg.Error | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        """Whether this relay listens now."""
        return self._connection is not None

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def fileno(self) -> int | None:
        """The listening connection's socket for the loop to wait on; None while not listening."""
        connection = self._connection
        return None if connection is None else connection.pgconn.socket

    def drain(self) -> None:
        """Read what the server sent (NOTIFYs: that they came is all they say); a dropped link
        hands the connection back to the thread, which reconnects. The loop's thread only."""
        connection = self._connection
        if connection is None:
            return
        try:
            connection.pgconn.consume_input()
            while connection.pgconn.notifies() is not None:
                pass
        except psycopg.Error as exc:
            self._lost = exc
            self._connection = None
            self._released.set()

    def close(self) -> None:
        """The loop is done with the connection: the thread closes it and ends."""
        self._closed = True
        self._connection = None
        self._released.set()
        self._thread.join(CHECK_SECONDS * 5)

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
            self._lost = None
            self._released.clear()
            self._connection = connection
            # Rows committed while nobody listened are due already: look at once.
            self._wake()
            self._released.wait()
            if self._lost is not None and not self._closed:
                raise self._lost
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
