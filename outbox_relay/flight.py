"""The sender threads and the rows handed to them: counted until each is done, waited for, and
what one raised."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

# What a sender thread runs: a delivery and its arguments; None tells it to end.
Job = tuple[Callable[..., None], tuple[Any, ...]] | None


class Flight:
    """Up to `threads` sender threads, started as work first needs them, each taking the next
    delivery handed over, first come first served; counts the deliveries handed over until
    each is done (its outcome collected or its row handed back), and keeps the first exception
    one raised for `land`.

    A queue of its own rather than an executor's futures: a future a row (its condition, its
    lock, a semaphore taken to hand it over) cost a relay an eighth of its interpreter's time
    in a drain.
    """

    def __init__(self, threads: int, name: str) -> None:
        self._size = threads
        self._name = name
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._count = 0
        self._raised: BaseException | None = None
        # What the one thread that waits (the claiming one: `wait`, `land`) waits for: a
        # delivery's end wakes it only once that holds, not at every end (a wake a message,
        # where the room for a claim comes once a half batch is written).
        self._wanted: Callable[[], bool] | None = None

    @property
    def count(self) -> int:
        """Deliveries handed over and not yet done."""
        with self._cond:
            return self._count

    def take_off(self, count: int) -> bool:
        """Count `count` deliveries about to be handed over; whether none was in flight."""
        with self._cond:
            first = not self._count
            self._count += count
            return first

    def hand(self, deliver: Callable[..., None], calls: list[tuple[Any, ...]]) -> None:
        """Hand `deliver` with each of `calls`' arguments (counted by `take_off`) to the
        threads, in order, starting those the deliveries in flight need."""
        for call in calls:
            self._jobs.put((deliver, call))
        with self._cond:
            wanted = min(self._size, self._count) - len(self._threads)
        for _ in range(wanted):
            thread = threading.Thread(
                target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

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

    def stop(self) -> None:
        """Let the deliveries handed over finish, then end the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            deliver, arguments = job
            raised = None
            try:
                deliver(*arguments)
            except BaseException as exc:  # kept for `land`, which raises it on the claiming thread
                raised = exc
            self._done(raised)

    def _done(self, raised: BaseException | None) -> None:
        with self._cond:
            self._count -= 1
            if self._raised is None:
                self._raised = raised
            if self._wanted is not None and self._wanted():
                self._cond.notify_all()

    def _wait_for(self, wanted: Callable[[], bool], timeout: float | None) -> None:
        self._wanted = wanted
        try:
            self._cond.wait_for(wanted, timeout)
        finally:
            self._wanted = None
