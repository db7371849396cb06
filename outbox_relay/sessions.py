"""The sessions a relay keeps open to one provider: reused last-in first-out, and no more of
them than the provider has shown it takes (a polite sender)."""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from collections.abc import Callable

from outbox_relay.admission import Admission
from outbox_relay.channels import ProviderChannel
from outbox_relay.failures import Deferred, DeliveryFailure
from outbox_relay.session_count import SessionCount

log = logging.getLogger(__name__)

# How soon a message that found no free session before its lease ran short is due again.
NO_SESSION_RETRY = 1.0


class Sessions:
    """Channels (so connections) to one provider, lent one send at a time.

    A polite sender: one session after start and after every pause (`restart`), one more each
    time the provider accepts a message over a session that had sent before (`accepted`), up
    to `limit` (RELAY_CONCURRENCY, or what a `421 too many connections` left), halved on a
    throttling reply (`halve`), and one fewer once the sends queue on our side rather than at
    the provider (SessionCount). So a wrong password costs one failed AUTH, not one a sender,
    and a provider that refuses at RCPT is never met by a wave of sessions. A new session
    refused at the greeting while the others deliver is a connection-rate limit (`Admission`):
    the others stay, and new ones wait.

    The channel returned last is lent first, so a trickle keeps one connection warm. A
    channel whose send failed for the provider is closed rather than kept: the next send opens
    a fresh one; after a refusal of the message alone, the channel keeps what still works.

    Sends waiting for a session are served in priority order (codes first), then in the order
    they came: while the sessions are fewer than the senders, whichever thread woke first
    would otherwise take the session, and notices would reach the provider (and SMTP_RATE's
    slots) before the codes claimed with them. Only the first in line is woken when a session
    frees up: waking every sender waiting cost a drain more than its sessions gained.
    """

    def __init__(self, make: Callable[[], ProviderChannel], limit: int) -> None:
        self._make = make
        self._earned = SessionCount(limit)
        self._lock = threading.Lock()
        self._idle: list[ProviderChannel] = []
        self._count = 0  # channels made and not yet closed: idle or lent
        # The sends waiting for a session, first in line first: (priority, arrival), and the
        # condition each waits on.
        self._line: list[tuple[int, int]] = []
        self._waiting: dict[tuple[int, int], threading.Condition] = {}
        self._arrivals = itertools.count()
        self._admission = Admission()
        # The lent channels a server refused (421 at the greeting), until given back.
        self._refused: set[int] = set()
        self._lent: set[ProviderChannel] = set()
        # The lent channels opened for their send: its time counts the connection's too.
        self._fresh: set[ProviderChannel] = set()

    @property
    def limit(self) -> int:
        """The most sessions this relay opens to the provider."""
        return self._earned.limit

    @property
    def allowed(self) -> int:
        """The sessions the provider has earned so far."""
        return self._earned.allowed

    def accepted(self, channel: ProviderChannel, seconds: float) -> None:
        """The provider took a message over `channel`, still lent, in `seconds`: one session
        more, or one fewer (SessionCount); the first send of a channel, whose time counts its
        connection, only one more."""
        with self._lock:
            self._admission.delivered()
            if channel in self._fresh:
                self._fresh.discard(channel)
                grown = self._earned.opened()
            else:
                grown = self._earned.accepted(seconds)
            if grown:
                self._wake()

    def halve(self) -> None:
        """The provider asked us to slow down: half the sessions (one at least)."""
        with self._lock:
            self._earned.halve()

    def restart(self) -> None:
        """Back to one session, as at start: after a pause, the provider earns the others again.
        Every send waiting is woken, to find the provider paused and hand its row back."""
        with self._lock:
            self._earned.restart()
            for woken in self._waiting.values():
                woken.notify()

    def borrow(self, start_by: float, usable: Callable[[], bool], priority: int) -> ProviderChannel:
        """A channel no other thread uses, once the sends of a lower `priority` (codes: 0) and
        those that came before at the same one have theirs; Deferred if none frees up before
        `start_by` (time.monotonic), or if the provider is no longer `usable` (paused since
        this send took it: it must not open a session the pause did not count on)."""
        with self._lock:
            # No send waiting and a session free: no place in line, and nothing to wait on.
            if self._line or not self._free():
                self._wait_in_line(start_by, usable, priority)
            if not usable():
                raise Deferred(0.0)
            if self._idle:
                channel = self._idle.pop()
                self._lent.add(channel)
                return channel
            self._count += 1
            self._admission.opening()
        try:
            made = self._make()
        except BaseException:
            self._forget(1)
            raise
        with self._lock:
            self._lent.add(made)
            self._fresh.add(made)
        return made

    def _wait_in_line(self, start_by: float, usable: Callable[[], bool], priority: int) -> None:
        """Wait (the lock held) until this send is first in line and a session is free, or the
        provider is no longer `usable`; Deferred if that takes past `start_by`."""
        turn = (priority, next(self._arrivals))
        bisect.insort(self._line, turn)
        self._waiting[turn] = woken = threading.Condition(self._lock)
        try:
            while usable() and not (self._line[0] == turn and self._free()):
                left = start_by - time.monotonic()
                if left <= 0:
                    raise Deferred(NO_SESSION_RETRY)
                # Woken first in line by a session given back or allowed, or when new ones may
                # open again.
                woken.wait(min(left, self._admission.wait() or left))
        finally:
            self._line.remove(turn)
            del self._waiting[turn]
            self._wake()

    def _wake(self) -> None:
        """Wake the send first in line (the lock held): a session may be free for it."""
        if self._line:
            self._waiting[self._line[0]].notify()

    def _free(self) -> bool:
        """Whether a session is idle or may be opened (the provider admits new ones again)."""
        return bool(self._idle) or (
            self._count < self._earned.allowed and not self._admission.wait()
        )

    def judge(self, failure: DeliveryFailure, provider: str, channel: ProviderChannel) -> None:
        """Fit the sessions to a failed send's reply on `channel`, still lent; Deferred (due at
        once, untried) when it was a new session refused by a rate limit.

        A `421 too many connections` lowers the limit to the sessions open (Postfix says the
        same for its rate limit as for its count limit), a throttling reply halves them; a
        rate limit's refusal does not, nor pauses the provider: the others are kept, and the
        message, which never reached the server, goes back for one of them.
        """
        with self._lock:
            if failure.refused_greeting or failure.too_many_sessions:
                self._refused.add(id(channel))
            others = self._count - len(self._refused)
        if failure.too_many_sessions:
            limit = self.lower_to_open()
            log.warning("provider sessions lowered", extra={"provider": provider, "to": limit})
        if failure.refused_greeting and self._admission.refused(others):
            log.warning("provider admits sessions no faster", extra={"provider": provider})
            raise Deferred(0.0)
        if failure.slow_down:
            self.halve()

    def give_back(self, channel: ProviderChannel, *, keep: bool) -> None:
        """Return a lent channel: kept for the next send, or closed (`keep` false, or more
        sessions open than the limit now allows, not counting those refused at the greeting
        nor those still on their first send: a session that delivers is not closed for one the
        server may yet refuse, and which then closes on its own)."""
        with self._lock:
            self._refused.discard(id(channel))
            self._lent.discard(channel)
            self._fresh.discard(channel)
            unproven = self._refused | {id(fresh) for fresh in self._fresh}
            if keep and self._count - len(unproven) <= self._earned.allowed:
                self._idle.append(channel)
                self._wake()
                return
        channel.close()
        self._forget(1)

    def cut_lent(self) -> None:
        """Break off the sends on every lent channel (a stop that waited long enough)."""
        with self._lock:
            lent = list(self._lent)
        for channel in lent:
            channel.cut()

    def close_idle(self) -> None:
        """Close every session no send is using: a paused provider keeps none open, so its
        probe is not one connection too many."""
        with self._lock:
            idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()
        self._forget(len(idle))

    def lower_to_open(self) -> int:
        """Allow no more sessions than the others open now, once the provider refused one more
        (a `421 too many connections`, whose channel, and any other it refused, their senders
        still hold, to give back once judged); never fewer than one, and never raised again.
        The new limit."""
        with self._lock:
            return self._earned.lower(self._count - len(self._refused))

    def _forget(self, closed: int) -> None:
        with self._lock:
            self._count -= closed
            self._wake()
