"""The sessions a relay keeps open to one provider: reused last-in first-out, and no more of
them than the provider takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from outbox_relay.channels import Channel
from outbox_relay.failures import Deferred

# How soon a message that found no free session before its lease ran short is due again.
NO_SESSION_RETRY = 1.0


class Sessions:
    """At most `limit` channels (so connections) to one provider, lent one send at a time.

    The channel returned last is lent first, so a trickle keeps one connection warm. A
    channel whose send failed is closed rather than kept: the next send opens a fresh one.
    """

    def __init__(self, make: Callable[[], Channel], limit: int) -> None:
        self._make = make
        self._limit = limit
        self._cond = threading.Condition()
        self._idle: list[Channel] = []
        self._count = 0  # channels made and not yet closed: idle or lent

    @property
    def limit(self) -> int:
        """The most sessions this relay opens to the provider."""
        return self._limit

    def borrow(self, start_by: float) -> Channel:
        """A channel no other thread uses; Deferred if none frees up before `start_by`
        (time.monotonic)."""
        with self._cond:
            while not self._idle and self._count >= self._limit:
                left = start_by - time.monotonic()
                if left <= 0:
                    raise Deferred(NO_SESSION_RETRY)
                self._cond.wait(left)
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return self._make()
        except BaseException:
            self._forget(1)
            raise

    def give_back(self, channel: Channel, *, keep: bool) -> None:
        """Return a lent channel: kept for the next send, or closed (`keep` false, or more
        sessions open than the limit now allows)."""
        with self._cond:
            if keep and self._count <= self._limit:
                self._idle.append(channel)
                self._cond.notify()
                return
        channel.close()
        self._forget(1)

    def close_idle(self) -> None:
        """Close every session no send is using: a paused provider keeps none open, so its
        probe is not one connection too many."""
        with self._cond:
            idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()
        self._forget(len(idle))

    def lower_to_open(self) -> int:
        """Allow no more sessions than are open now, once the provider refused one more (a
        `421 too many connections`, whose channel is already closed); never fewer than one,
        and never raised again. The new limit."""
        with self._cond:
            self._limit = max(1, min(self._limit, self._count))
            return self._limit

    def _forget(self, closed: int) -> None:
        with self._cond:
            self._count -= closed
            self._cond.notify_all()
