"""How busy this relay's interpreter is: the share of one core its threads used over the last
quarter of a second, read from the process's CPU time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Past this share of one core the interpreter is the relay's bottleneck: its threads run one at
# a time, and the claims, the composing, the sends and the outcomes all wait for it.
BUSY = 0.8
# Long enough to hold hundreds of sends to a server that answers at once, short enough that a
# drain of a second sees it.
WINDOW = 0.25


class InterpreterLoad:
    """The process's share of one core over the last window of at least WINDOW seconds."""

    def __init__(
        self,
        cpu: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu = cpu
        self._clock = clock
        self._lock = threading.Lock()
        self._window: tuple[float, float] | None = None  # its start: the clock, the CPU time
        self._share = 0.0

    def busy(self) -> bool:
        """Whether the last window was busy past BUSY: the first call starts the first window,
        and a call once a window has passed ends it (an idle hour reads as one idle window)."""
        with self._lock:
            now = self._clock()
            if self._window is None:
                self._window = (now, self._cpu())
            elif now - self._window[0] >= WINDOW:
                cpu = self._cpu()
                self._share = (cpu - self._window[1]) / (now - self._window[0])
                self._window = (now, cpu)
            return self._share >= BUSY


# One interpreter a process, whatever the providers.
INTERPRETER = InterpreterLoad()
