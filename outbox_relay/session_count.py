"""How many sessions one provider is worth now: one more as it accepts messages, and fewer once
the sends queue on our side rather than at the provider (TCP Vegas's estimate, as Netflix's
concurrency-limits applies it to calls).

A send's time is the provider's own (its network, its work) plus the wait of a reply that came
while the relay's other senders held the interpreter. Against a provider 100 ms away 32 sessions
deliver 32 times what one does; against one that answers in a fraction of a millisecond they
only make the senders wait for each other, and the thread switches cost more than the sessions
gain (bench/README.md: 2 sessions drained a third faster than 32, at a quarter less CPU a
message). `queued = sessions * (1 - floor / typical)` estimates the sends waiting on our side:
the floor is the quickest recent send, what the provider alone takes.

While the interpreter itself is busy (interpreter_load.py), the sends queued on our side wait for
it, and a session more only adds thread switches: the band falls to BUSY_ALPHA and BUSY_BETA,
over a floor of BUSY_FLOOR sessions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from outbox_relay.interpreter_load import InterpreterLoad

# Fewer sends queued on our side than ALPHA: one session more. More than BETA: one fewer (TCP
# Vegas's own 1 and 3). The band between keeps the count steady rather than opening and closing
# a session a send. It widens in step with the sessions past WIDE: a provider's own jitter, a
# few per cent of each reply, reads as that share of the sessions queued, so that 32 sessions
# to a provider 100 ms away, give or take 5 ms, are all earned and one slow reply closes none.
# Below, a relay whose senders wait for its one interpreter (a server that answers at once)
# keeps two or three sessions rather than five: each more only adds thread switches.
ALPHA = 1.0
BETA = 3.0
# While the interpreter is busy: two sessions hold it (one sends while the other's reply is on
# its way), and a third earns nothing but switches. A provider far away still earns every
# session: its sends queue nowhere on our side, under half a send at any count.
BUSY_ALPHA = 0.5
BUSY_BETA = 1.0
BUSY_FLOOR = 2
WIDE = 8
# The weight of the newest send in the typical time: one slow reply alone does not close a
# session.
WEIGHT = 0.125
# The floor is the quickest send of the last one or two windows of this many seconds, so that
# a provider that became slower for good is not taken for our queue for longer.
FLOOR_WINDOW = 10.0


class SessionCount:
    """The sessions one provider has earned, up to `limit`. Not thread-safe: its owner locks."""

    def __init__(
        self,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self.limit = limit
        self.allowed = 1
        self._clock = clock
        self._busy = busy or InterpreterLoad(clock=clock).busy
        self._typical = 0.0
        # Until the sends first queue on our side (ALPHA), each new session's first message
        # earns one more (a slow start); after, only the estimate moves the count.
        self._starting = True
        # The sends to measure before the count moves again: a change shows only once every
        # session has sent at the new count.
        self._settling = 0
        self._floors = [math.inf, math.inf]  # the window before, this window
        self._window_ends = -math.inf

    def opened(self) -> bool:
        """The provider took a message over a session opened for it, a time that counts the
        connection's too: in the slow start one session more; whether one is allowed now."""
        if self._starting and self.allowed < self.limit:
            self.allowed += 1
            return True
        return False

    def accepted(self, seconds: float) -> bool:
        """The provider took a message in `seconds` over a session that had sent before;
        whether one session more is allowed now."""
        self._typical = (
            seconds if not self._typical else self._typical + WEIGHT * (seconds - self._typical)
        )
        now = self._clock()
        if now >= self._window_ends:
            self._floors = [self._floors[1], math.inf]
            self._window_ends = now + FLOOR_WINDOW
        self._floors[1] = min(self._floors[1], seconds)
        if self._settling:
            self._settling -= 1
            return False
        queued = self.allowed * (1 - min(self._floors) / self._typical) if self._typical else 0.0
        width = max(1.0, self.allowed / WIDE)
        alpha, beta, floor = (
            (BUSY_ALPHA, BUSY_BETA, BUSY_FLOOR) if self._busy() else (ALPHA, BETA, 1)
        )
        if queued < alpha * width:
            if self.allowed == self.limit:
                return False
            self.allowed += 1
            self._settling = 0 if self._starting else self.allowed
            return True
        self._starting = False
        if queued > beta * width and self.allowed > floor:
            self.allowed -= 1
            self._settling = self.allowed
        return False

    def halve(self) -> None:
        """The provider asked us to slow down: half the sessions (one at least)."""
        self.allowed = max(1, self.allowed // 2)

    def restart(self) -> None:
        """Back to one session, as at start: after a pause, the provider earns the others again,
        its typical time measured afresh."""
        self.allowed = 1
        self._typical = 0.0
        self._starting, self._settling = True, 0

    def lower(self, open_sessions: int) -> int:
        """Never more than `open_sessions` (one at least) from now on; the new limit."""
        self.limit = max(1, min(self.limit, open_sessions))
        self.allowed = min(self.allowed, self.limit)
        return self.limit
