"""The client IPs a worker refused lately: when a sign-up may hash before its per-IP check."""

from __future__ import annotations

import threading
import time


class RefusedClients:
    """The client IPs this process refused lately, and until when: in memory, per worker.

    A sign-up from any other client starts its hash before its per-IP check, which then runs
    beside the hash. A client over its limit therefore costs at most one hash per worker
    each time it crosses the limit; its next requests are checked first again, as every
    other POST is.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, ip: str, seconds: float) -> None:
        """Remember that `ip` was refused for `seconds`."""
        now = time.monotonic()
        with self._lock:
            if len(self._until) >= self._capacity:
                self._until = {k: until for k, until in self._until.items() if until > now}
            while len(self._until) >= self._capacity:
                # Forgetting a client costs at most one more hash, if it is still over its limit.
                del self._until[next(iter(self._until))]
            self._until.pop(ip, None)
            self._until[ip] = now + seconds

    def recent(self, ip: str) -> bool:
        """Whether `ip` was refused and may still be over its limit."""
        with self._lock:
            return self._until.get(ip, 0.0) > time.monotonic()
