"""The sender threads and the rows handed to them: counted until each is done, waited for, and
what one raised."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

# What a sender thread runs: a delivery and its arguments; None tells it to end.
Job = tuple[Callable[..., None], tuple[Any, ...]] | None


class Flight:
    """Up to `threads` sender threads, as many as the deliveries in flight and the `useful`
    count (the sessions the providers allow now) call for, each taking the next delivery
    handed over, first come first served; counts the deliveries handed over until each is
    done (its outcome collected or its row handed back), and keeps the first exception one
    raised for `land`.

    A thread more than is useful ends after its delivery, and one is started as the count
    grows: a sender with no session to send on would only wait for one, and handing each
    freed session to another thread cost a drain a few thread switches a message.

    A queue of its own rather than an executor's futures: a future a row (its condition, its
    lock, a semaphore taken to hand it over) cost a relay an eighth of its interpreter's time
    in a drain.
    """

    def __init__(self, threads: int, name: str, useful: Callable[[], int] | None = None) -> None:
        self._size = threads
        self._useful = useful or (lambda: threads)
        self._name = name
        self._numbers = itertools.count()
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._cond = threading.Condition()
        self._count = 0
        self._raised: BaseException | None = None
        # What the one thread that waits (the claiming one: `land`) waits for: a delivery's
        # end wakes it only once that holds, not at every end (a wake a message).
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
        self._grow()

    def _grow(self) -> None:
        """Start the threads the deliveries in flight can use now."""
        with self._cond:
            wanted = min(self._size, self._useful(), self._count) - len(self._threads)
            started = [
                threading.Thread(
                    target=self._run, name=f"{self._name}_{next(self._numbers)}", daemon=True
                )
                for _ in range(0 if self._stopping else wanted)
            ]
            self._threads += started
        for thread in started:
            thread.start()

    def _surplus(self) -> bool:
        """Whether this thread is one more than is useful now; if so, it is counted out."""
        with self._cond:
            if self._stopping or len(self._threads) <= max(1, self._useful()):
                return False
            self._threads.remove(threading.current_thread())
            return True

    def land(self) -> BaseException | None:
        """Wait until no delivery is in flight; what one raised meanwhile, if any."""
        with self._cond:
            self._wait_for(lambda: not self._count)
            raised, self._raised = self._raised, None
            return raised

    def stop(self) -> None:
        """Let the deliveries handed over finish, then end the threads."""
        with self._cond:
            self._stopping = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()
        with self._cond:
            self._threads.clear()
            self._stopping = False

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            deliver, arguments = job
            raised = None
            try:
                deliver(*arguments)
            except BaseException as exc:  # kept for `land`, which raises it on the claiming thread
                raised = exc
            self._done(raised)
            if self._surplus():
                return
            self._grow()

    def _done(self, raised: BaseException | None) -> None:
        with self._cond:
            self._count -= 1
            if self._raised is None:
                self._raised = raised
            if self._wanted is not None and self._wanted():
                self._cond.notify_all()

    def _wait_for(self, wanted: Callable[[], bool]) -> None:
        self._wanted = wanted
        try:
            self._cond.wait_for(wanted)
        finally:
            self._wanted = None
