"""Codes before notices from the moment they are handed to the senders, not from the moment
their sender threads reach a session or a rate slot."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Hashable

from outbox_relay.failures import Deferred

# How soon a message that waited past its lease for the messages before it is due again.
RETRY_AFTER_WAITING = 1.0


class Precedence:
    """The deliveries handed to the senders and not yet answered, by lane (a channel: an SMS
    code does not hold back an email notice) and priority (shared.messaging.outbox.priority_of: 0
    first).

    A delivery waits, before it asks for a session, until every delivery of its lane with an
    earlier priority handed over before it has been answered. The sessions' and the rate
    slots' lines order the sends waiting in them, but a send joins them only once its thread
    reaches them: a notice whose thread ran first would find no code waiting and take the
    session and the slot of a code whose thread had not yet run. Only deliveries handed over
    before it hold one back: those are ahead of it in the senders' queue, so on a thread, and
    it never waits for a code that waits for its thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._handed = itertools.count()
        # Per (lane, priority): the hand-over numbers of the deliveries not yet answered, the
        # earliest first, and those answered behind an earlier one still open (the heap keeps
        # its earliest open, so `_ahead` looks at one number a priority).
        self._open: dict[tuple[Hashable, int], list[int]] = {}
        self._answered: dict[tuple[Hashable, int], set[int]] = {}
        self._waiting = 0

    def enter(self, lane: Hashable, priority: int) -> Ticket:
        """A delivery handed over now (on the claiming thread, in the order sent)."""
        with self._cond:
            number = next(self._handed)
            heapq.heappush(self._open.setdefault((lane, priority), []), number)
            self._answered.setdefault((lane, priority), set())
            ticket = Ticket(self, lane, priority, number)
            # None open before it now, none ever: those handed over later never hold it back.
            ticket.held = self._ahead(ticket)
        return ticket

    def _ahead(self, ticket: Ticket) -> bool:
        """Whether a delivery of an earlier priority handed over before `ticket` is open."""
        return any(
            numbers and numbers[0] < ticket.number
            for (lane, priority), numbers in self._open.items()
            if lane == ticket.lane and priority < ticket.priority
        )

    def wait(self, ticket: Ticket, start_by: float) -> None:
        """Until the deliveries of an earlier priority handed over before `ticket` are
        answered; Deferred if they are not by `start_by` (time.monotonic)."""
        if not ticket.held:
            return
        with self._cond:
            self._waiting += 1
            try:
                while self._ahead(ticket):
                    left = start_by - time.monotonic()
                    if left <= 0:
                        raise Deferred(RETRY_AFTER_WAITING)
                    self._cond.wait(left)
            finally:
                self._waiting -= 1

    def leave(self, ticket: Ticket) -> None:
        """`ticket`'s delivery was answered, or will not be sent: those after it go on."""
        key = ticket.lane, ticket.priority
        with self._cond:
            numbers, answered = self._open[key], self._answered[key]
            answered.add(ticket.number)
            while numbers and numbers[0] in answered:
                answered.discard(heapq.heappop(numbers))
            if self._waiting:
                self._cond.notify_all()


class Ticket:
    """One delivery's place in its lane: `wait` before it asks for a session, `leave` once
    answered (or never sent); leaving twice is leaving once."""

    __slots__ = ("_left", "_precedence", "held", "lane", "number", "priority")

    def __init__(self, precedence: Precedence, lane: Hashable, priority: int, number: int) -> None:
        self._precedence = precedence
        self.lane = lane
        self.priority = priority
        self.number = number
        # Whether a delivery before it was open as it was handed over (Precedence.enter).
        self.held = True
        self._left = False

    def wait(self, start_by: float) -> None:
        """Precedence.wait for this delivery."""
        self._precedence.wait(self, start_by)

    def leave(self) -> None:
        """Precedence.leave for this delivery, once."""
        if not self._left:
            self._left = True
            self._precedence.leave(self)
