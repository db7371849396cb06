"""The relay's heartbeat: each healthy step recorded, systemd's watchdog petted at most once a
second."""

from __future__ import annotations

import time

from outbox_relay import metrics
from outbox_relay.systemd import notify


class Heartbeat:
    """Given to the relay at construction (bootstrap.build_relay), called at each step it makes."""

    def __init__(self) -> None:
        self._last = 0.0

    def beat(self) -> None:
        """One healthy step (a claim, an outcome written)."""
        metrics.LAST_POLL.set_to_current_time()
        now = time.monotonic()
        if now - self._last >= 1.0:
            self._last = now
            notify("WATCHDOG=1")
