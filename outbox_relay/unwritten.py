"""The rows a relay claimed and has not yet written: counted from their claim until their outcome
is written (or kept for the database's return) or they are handed back, in this one
place. A delivery that raised is a bug that ends the daemon (Flight keeps it for `land`)."""

from __future__ import annotations

import threading


class Unwritten:
    """How many claimed rows are not yet written, and a wait for fewer (the claiming thread's:
    Relay._room); a row counts once, whether in flight or its outcome waiting for a write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fewer = threading.Condition(self._lock)
        self._count = 0
        # The count the one thread waiting waits for: a row written wakes it only once the
        # count is down to it, not at every row.
        self._wanted: int | None = None

    @property
    def count(self) -> int:
        """Claimed rows not yet written."""
        with self._lock:
            return self._count

    def claimed(self, rows: int) -> None:
        """Count `rows` more, just claimed."""
        with self._lock:
            self._count += rows

    def done(self, rows: int) -> None:
        """Count out `rows` written (or kept for the database's return), or handed back."""
        with self._fewer:
            self._count -= rows
            if self._wanted is not None and self._count <= self._wanted:
                self._fewer.notify_all()

    def wait(self, most: int, timeout: float) -> None:
        """Until no more than `most` rows are unwritten, or `timeout` seconds pass."""
        with self._fewer:
            self._wanted = most
            try:
                self._fewer.wait_for(lambda: self._count <= most, timeout)
            finally:
                self._wanted = None
