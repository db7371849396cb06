"""The relay's heartbeat: at most once a second, the time of its last healthy step recorded and
systemd's watchdog petted."""

from __future__ import annotations

import time
from collections.abc import Callable

from outbox_relay import metrics
from outbox_relay.systemd import notify

# Often enough for the watchdog and for the alert on a relay that stopped polling (two minutes);
# the relay takes several steps a message.
BEAT_SECONDS = 1.0


class Heartbeat:
    """Given to the relay at construction (bootstrap.build_relay), called at each step it makes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = -BEAT_SECONDS

    def beat(self) -> None:
        """One healthy step (a claim, an outcome written)."""
        now = self._clock()
        if now - self._last >= BEAT_SECONDS:
            self._last = now
            metrics.LAST_POLL.set_to_current_time()
            notify("WATCHDOG=1")
