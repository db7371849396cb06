"""The per-IP limit on every public POST, one object: how many a client may make, counting
them (in a transaction of its own, or in the caller's beside the hash), refusing past it, and
remembering whom this worker refused."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Connection

from api_service.flows.errors import TooManyRequests
from api_service.flows.unit_of_work import UnitOfWork
from shared.database.throttle import Along, Limit, Throttle

# The generic refusal of a client past its limits.
SLOW_DOWN = "Too many requests from this address; slow down."
WINDOW_SECONDS = 60


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


class ClientLimit:
    """IP_RATE_LIMIT POSTs a minute from one client (api_service.clients names it)."""

    def __init__(self, per_minute: int, throttle: Throttle) -> None:
        self._limits = [Limit(per_minute, WINDOW_SECONDS)]
        self._throttle = throttle
        self._refused = RefusedClients()

    def check(self, unit_of_work: UnitOfWork, ip: str, now: datetime) -> None:
        """Count a POST from `ip` in a transaction of its own, or answer 429."""
        with unit_of_work as uow:
            # A counter lost in a crash costs nothing; do not wait for the disk.
            wait = self.count(uow.connection, ip, now, durable=False)
            uow.commit()
        self.refuse(ip, wait)

    def count(
        self,
        connection: Connection,
        ip: str,
        now: datetime,
        *,
        durable: bool = True,
        along: Along | None = None,
    ) -> int:
        """Count a POST from `ip` in the caller's transaction; if the client is over its limit,
        count nothing and return the seconds it must wait (0: counted). `along`: an update of
        the caller's sent with the check's lock."""
        subjects = [f"ip:{ip}"]
        return self._throttle.take(
            connection, subjects, self._limits, now, durable=durable, along=along
        )

    def refuse(self, ip: str, wait: int) -> None:
        """Answer 429 to a client that must wait `wait` seconds (none when 0), and remember it."""
        if wait:
            self._refused.note(ip, wait)
            raise TooManyRequests(wait, SLOW_DOWN)

    def refused_lately(self, ip: str) -> bool:
        """Whether this worker refused `ip` and it may still be over its limit: its sign-up is
        then checked before its hash, not beside it."""
        return self._refused.recent(ip)
