"""SMTP_RATE: no more than so many messages a second handed to a provider, over all relays."""

from __future__ import annotations

import bisect
import itertools
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import rate_slots
from outbox_relay.failures import Deferred

# How long a message waits before trying for a slot again when the database could not say.
RETRY_WITHOUT_DATABASE = 1.0
# Slots a sender that woke too late for its own may take again before it goes anyway.
LATE_RETRIES = 3

# A message's place in a line: its priority (shared.messaging.outbox.priority_of), then its arrival.
Turn = tuple[int, int]


class Pacer:
    """Spaces the messages handed to each provider 1/rate seconds apart, slots kept in the
    database, so that relays sharing it share the rate: no one-second window holds more than
    the rate (one more at its edge). Within the relay, the slots go to the messages waiting
    in priority order (codes first), not in the order their senders' threads wake up."""

    def __init__(self, engine: Engine, rate: float) -> None:
        self._engine = engine
        self._step = 1.0 / rate
        self._lines: dict[str, _Line] = {}
        self._lock = threading.Lock()
        self._arrivals = itertools.count()

    def pace(self, provider: str, start_by: float, priority: int) -> None:
        """Wait for a slot of `provider`; raise Deferred if it comes after `start_by`
        (time.monotonic), when the message's lease could no longer cover its send.

        A sender that wakes more than half a slot after its own (a busy machine, a slow
        reservation) takes another instead of going late: a message handed over late would
        share the next second with the slots given out after it.
        """
        with self._lock:
            line = self._lines.setdefault(provider, _Line())
        turn = (priority, next(self._arrivals))
        line.join(turn)
        try:
            for _ in range(LATE_RETRIES):
                try:
                    slot = rate_slots.reserve_slot(
                        self._engine, provider, step=self._step, now=time.time()
                    )
                except SQLAlchemyError:
                    raise Deferred(RETRY_WITHOUT_DATABASE) from None
                if time.time() - line.take(turn, slot, start_by) <= self._step / 2:
                    return
        finally:
            line.leave(turn)


class _Line:
    """The messages of this relay waiting for one provider: each brings the slot it reserved,
    and the earliest slot goes to the first in line when it comes."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._turns: list[Turn] = []
        self._slots: list[float] = []

    def join(self, turn: Turn) -> None:
        """Take a place in the line, before reserving a slot: a later message that comes
        first must find it waiting."""
        with self._changed:
            bisect.insort(self._turns, turn)

    def leave(self, turn: Turn) -> None:
        """Leave the line, handed over or not."""
        with self._changed:
            self._turns.remove(turn)
            self._changed.notify_all()

    def take(self, turn: Turn, slot: float, start_by: float) -> float:
        """Add `slot` to the line's; wait until `turn` is first and the earliest slot has come,
        and return that slot. Raise Deferred past `start_by` (the slot stays for the others)."""
        with self._changed:
            bisect.insort(self._slots, slot)
            self._changed.notify_all()
            while True:
                if self._turns[0] == turn and self._slots:
                    wait = self._slots[0] - time.time()
                    if time.monotonic() + wait > start_by:
                        raise Deferred(max(wait, 0.0))
                    if wait <= 0:
                        return self._slots.pop(0)
                    self._changed.wait(wait)
                    continue
                left = start_by - time.monotonic()
                if left <= 0:
                    raise Deferred(0.0)
                self._changed.wait(left)
