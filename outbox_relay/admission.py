"""How fast a provider admits new sessions: a `421` at the greeting while our other sessions
deliver is a connection-rate limit, not an outage (SPEC "A polite sender")."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# How recently the provider must have taken a message for a greeting's 421 to be a rate limit:
# a server going down (`421 shutting down`) refuses new sessions too, but then the open ones
# stop delivering, and it is their failures that pause the provider.
DELIVERED_WITHIN = 5.0
# The wait before the first new session after a refusal; it doubles on each further refusal.
FIRST_COOL_DOWN = 1.0
# The longest wait: a server counting connections over a minute (Postfix's anvil) admits one
# again within it.
COOL_DOWN_CAP = 60.0
# A refusal this long after the last starts the doubling afresh: two waits at the cap passed.
FORGET_AFTER = 2 * COOL_DOWN_CAP


class Admission:
    """When one provider is likely to admit one more of our sessions."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._delivered_at = -math.inf
        self._refused_at = -math.inf
        self._cool_down = 0.0
        self._next_open = -math.inf

    def delivered(self) -> None:
        """The provider took a message over one of our sessions."""
        with self._lock:
            self._delivered_at = self._clock()

    def refused(self, others_open: int) -> bool:
        """Whether a new session's `421` at the greeting is a rate limit (other sessions open,
        one of which delivered lately); if so, no new session opens for a cool-down."""
        now = self._clock()
        with self._lock:
            if others_open < 1 or now - self._delivered_at > DELIVERED_WITHIN:
                return False
            if now < self._next_open:  # a session opened before the wait began: it stands
                return True
            if now - self._refused_at >= FORGET_AFTER:
                self._cool_down = FIRST_COOL_DOWN
            else:
                self._cool_down = min(COOL_DOWN_CAP, self._cool_down * 2)
            self._refused_at = now
            self._next_open = now + self._cool_down
            return True

    def wait(self) -> float:
        """Seconds until a new session may open (0: now)."""
        with self._lock:
            return max(0.0, self._next_open - self._clock())

    def opening(self) -> None:
        """A new session opens: after a recent refusal, the next one waits another cool-down,
        so sessions open one at a time, no faster than the server admitted them."""
        now = self._clock()
        with self._lock:
            if now - self._refused_at < FORGET_AFTER:
                self._next_open = now + self._cool_down
