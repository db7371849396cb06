"""The rows handed to the senders and not yet done: counted, waited for, and what one raised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future


class Flight:
    """Counts the deliveries started on the senders until each is done (its outcome collected
    or its row handed back), and keeps the first exception one raised for `land`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0
        self._raised: BaseException | None = None
        # What the one thread that waits (the claiming one: `wait`, `land`) waits for: a
        # delivery's end wakes it only once that holds, not at every end (a wake a message,
        # where the room for a claim comes once a half batch is written).
        self._wanted: Callable[[], bool] | None = None

    @property
    def count(self) -> int:
        """Deliveries started and not yet done."""
        with self._cond:
            return self._count

    def take_off(self, count: int) -> bool:
        """Count `count` deliveries about to start; whether none was in flight before."""
        with self._cond:
            first = not self._count
            self._count += count
            return first

    def done(self, future: Future[None]) -> None:
        """A delivery ended (a future's done callback)."""
        with self._cond:
            self._count -= 1
            if self._raised is None and future.exception() is not None:
                self._raised = future.exception()
            if self._wanted is not None and self._wanted():
                self._cond.notify_all()

    def wait(self, done: Callable[[], bool], timeout: float) -> None:
        """Until `done` holds as a delivery ends, or `timeout` seconds pass."""
        with self._cond:
            self._wait_for(done, timeout)

    def land(self) -> BaseException | None:
        """Wait until no delivery is in flight; what one raised meanwhile, if any."""
        with self._cond:
            self._wait_for(lambda: not self._count, None)
            raised, self._raised = self._raised, None
            return raised

    def _wait_for(self, wanted: Callable[[], bool], timeout: float | None) -> None:
        self._wanted = wanted
        try:
            self._cond.wait_for(wanted, timeout)
        finally:
            self._wanted = None
