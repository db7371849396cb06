"""The sender threads (outbox_relay/flight.py): as many as the sessions allowed can use, started
as the count grows, ended as it shrinks, every delivery done."""

from __future__ import annotations

import threading
import time

from outbox_relay.flight import Flight


class Deliveries:
    """Deliveries that each wait for the test to release them, counting those running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.done = 0
        self.release = threading.Semaphore(0)

    def __call__(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.acquire()
        with self.lock:
            self.running -= 1
            self.done += 1

    def until_running(self, count: int) -> None:
        """Until `count` deliveries run, however busy the machine."""
        while self.running != count:
            time.sleep(0.005)


def _threads(name: str) -> int:
    return sum(thread.name.startswith(f"{name}_") for thread in threading.enumerate())


def test_the_threads_follow_the_useful_count_and_every_delivery_is_done() -> None:
    useful = [2]
    flight = Flight(8, "flight_test", lambda: useful[0])
    deliveries = Deliveries()
    flight.take_off(20)
    flight.hand(deliveries, [()] * 20)
    deliveries.until_running(2)
    assert _threads("flight_test") == 2

    useful[0] = 5
    deliveries.release.release()  # a delivery's end lets the threads grow to the count
    deliveries.until_running(5)
    assert _threads("flight_test") == 5

    useful[0] = 1
    for _ in range(5):
        deliveries.release.release()
    deliveries.until_running(1)
    while _threads("flight_test") > 1:  # the surplus threads end after their delivery
        time.sleep(0.005)

    for _ in range(20):
        deliveries.release.release()
    assert flight.land() is None
    assert deliveries.done == 20
    assert deliveries.most == 5, "never more than the count"
    flight.stop()
    assert _threads("flight_test") == 0


def test_never_more_threads_than_its_size_nor_than_the_deliveries_in_flight() -> None:
    flight = Flight(3, "flight_size", lambda: 32)
    deliveries = Deliveries()
    flight.take_off(2)
    flight.hand(deliveries, [()] * 2)
    deliveries.until_running(2)
    assert _threads("flight_size") == 2
    flight.take_off(10)
    flight.hand(deliveries, [()] * 10)
    deliveries.until_running(3)
    assert _threads("flight_size") == 3
    for _ in range(12):
        deliveries.release.release()
    assert flight.land() is None
    assert deliveries.most == 3
    flight.stop()
