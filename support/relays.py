"""Driving a relay in the test's own process until what it wrote says it is done."""

from __future__ import annotations

import time
from collections.abc import Callable

from outbox_relay.relay import Relay


def drain_until(relay: Relay, done: Callable[[], bool], timeout: float) -> None:
    """Drain again and again until `done` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done after {timeout}s"
        relay.drain()
        time.sleep(0.02)
