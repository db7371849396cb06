"""Driving a relay in the test's own process: until what it wrote says it is done, or for a
while, and reading whether its provider is paused."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import func, select

from outbox_relay.relay import Relay
from shared.database.models import outbox


def drain_until(relay: Relay, done: Callable[[], object], timeout: float = 20.0) -> None:
    """Drain again and again until `done` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done after {timeout}s"
        relay.drain()
        time.sleep(0.02)


def nothing_pending(relay: Relay) -> bool:
    """Whether every row of the relay's outbox is sent or dead."""
    query = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
    with relay.engine.connect() as connection:
        return connection.scalar(query) == 0


def drain_to_rest(relay: Relay, timeout: float = 30.0) -> None:
    """Drain until no row waits: a row in its backoff is waited for, not taken as done."""
    drain_until(relay, lambda: nothing_pending(relay), timeout)


def keep_draining(relay: Relay, seconds: float) -> None:
    """Drain for `seconds`, as a running relay would meanwhile."""
    until = time.monotonic() + seconds
    drain_until(relay, lambda: time.monotonic() > until, seconds + 5)


def paused_for(relay: Relay, reason: str) -> bool:
    """Whether the relay's SMTP provider is paused with `reason` in its status."""
    return any(reason in line for line in relay.providers.status())


def wait_until_up(relay: Relay, timeout: float = 5.0) -> None:
    """Wait for the relay's email providers to come back from a pause; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while "email" in relay.providers.paused_channels():
        assert time.monotonic() < deadline, "the provider stayed paused"
        time.sleep(0.01)
