"""Whether this relay's interpreter is busy: the share of one core the process used over the last
quarter of a second of sends, read from its CPU time."""

from __future__ import annotations

import time
from collections.abc import Callable

# Past this share of one core the interpreter is the relay's bottleneck: its threads run one at
# a time, and the claims, the composing, the sends and the outcomes all wait for it.
BUSY = 0.8
# Long enough to hold hundreds of sends to a server that answers at once, short enough that a
# drain of a second sees it.
WINDOW = 0.25
# A window this long between two readings held an idle gap (no sends), not a measure of them.
GAP = 4 * WINDOW


class InterpreterLoad:
    """The process's share of one core over its last window of WINDOW to GAP seconds, read at
    each call. Not thread-safe: its owner locks."""

    def __init__(
        self,
        cpu: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu = cpu
        self._clock = clock
        self._start: tuple[float, float] | None = None  # the window's: the clock, the CPU time
        self._busy = False

    def busy(self) -> bool:
        """Whether the last window ended was busy past BUSY. The first call starts a window; a
        call after an idle gap starts one afresh and reads idle: the sends resumed."""
        now = self._clock()
        if self._start is None or now - self._start[0] > GAP:
            self._start, self._busy = (now, self._cpu()), False
        elif now - self._start[0] >= WINDOW:
            cpu = self._cpu()
            self._busy = (cpu - self._start[1]) / (now - self._start[0]) >= BUSY
            self._start = (now, cpu)
        return self._busy
