"""Providers' health: paused on their own failures, probed until they answer, for all senders.

A provider is paused for every sender at once when a failure is its own (a revoked password, a
quota, an outage), until a probe finds it answering. The probe is a real message, the next due
one after the backoff (a trial): a probe that passes means mail passes (one that stopped before
RCPT passed a greylister, or a server refusing every message, and resumed a wave of sends into
the same refusal), and a black-holed provider costs one timeout a probe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from enum import Enum

from outbox_relay import metrics
from outbox_relay.backoff import probe_delay
from outbox_relay.failures import DeliveryFailure, PolicyRule, Verdict
from shared.clock import utcnow

log = logging.getLogger(__name__)

# Probes follow the backoff, but never wait longer than this between two.
PROBE_CAP = 60.0

# Counts as a try the failure that paused a provider which then answered its first probe.
Recount = Callable[[], None]


class _State(Enum):
    UP = "up"
    DOWN = "down"
    TRIAL = "trial"  # down, but the next message may go through as the probe


class Provider:
    """One provider's health, shared by every sender of a relay."""

    def __init__(
        self,
        name: str,
        *,
        backoff_base: float,
        backoff_cap: float,
        stopping: threading.Event,
        on_change: Callable[[], None],
    ) -> None:
        self.name = name
        self._base = backoff_base
        self._cap = min(backoff_cap, PROBE_CAP)
        self._stopping = stopping
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = _State.UP
        self._trial_taken = False
        self._probes = 0
        self._pauses = 0  # every pause so far: a send taken before the last one is void
        self._down_since: datetime | None = None
        self._reason = ""
        self._prober: threading.Thread | None = None
        self._recount: Recount | None = None
        self._policy = PolicyRule()
        self._held_since: datetime | None = None  # paused by an operator (shared_pauses)
        self._answered_at: datetime | None = None  # its last answer that was not its failure
        metrics.PROVIDER_UP.labels(name).set_function(self.up)
        metrics.PAUSED_SECONDS.labels(name).set_function(self.paused_seconds)
        metrics.FAILED_PROBES.labels(name)

    def up(self) -> float:
        """1 while the relay uses it, 0 while paused: on its own failure or by an operator."""
        return 0.0 if self._held_since or self._down_since else 1.0

    def paused_seconds(self) -> float:
        """How long the provider has been paused, by its failure or an operator; 0 while up."""
        since = [t for t in (self._down_since, self._held_since) if t is not None]
        return (utcnow() - min(since)).total_seconds() if since else 0.0

    @property
    def usable(self) -> bool:
        """Whether a sender may use it now: not held by an operator, and up, or on trial with the
        trial not yet taken."""
        if self._held_since is not None:
            return False
        return self._state is _State.UP or (self._state is _State.TRIAL and not self._trial_taken)

    def take(self) -> int | None:
        """Claim it for one send (always while up, once on trial): the pauses so far, or None."""
        with self._lock:
            if self._held_since is not None:
                return None
            if self._state is _State.TRIAL and not self._trial_taken:
                self._trial_taken = True
                return self._pauses
            return self._pauses if self._state is _State.UP else None

    def paused_since(self, taken: int) -> bool:
        """Whether it paused since a `take` returned `taken`: that send must open no session."""
        return self._pauses != taken

    def untried(self) -> None:
        """A send taken for it never reached it: if that was the trial, the next one is."""
        with self._lock:
            if self._state is _State.TRIAL:
                self._trial_taken = False

    def judge(self, failure: DeliveryFailure, recipient: str) -> Verdict:
        """The verdict on a failure, once the policy rule has counted its recipient."""
        return self._policy.judge(failure, recipient)

    def answered(self) -> None:
        """A send got an answer that is not the provider's failure: a trial ends the pause.

        No retry without backoff: when the failure that paused it came from one message (a
        421 after DATA, a quota at RCPT) and the provider takes its first probe, the pause said
        nothing of the provider, and the recount counts that failure as the message's try, so
        its retry waits the backoff instead of pausing the provider again.
        """
        with self._lock:
            self._answered_at = utcnow()
            if self._state is not _State.TRIAL:
                return
            recount, self._recount = self._recount, None
            first = self._probes == 1
        if recount is not None and first:
            try:
                recount()
            except Exception:  # the row is retried anyway; the pause must end
                log.exception("failure not recounted", extra={"provider": self.name})
        self._resume()

    def answered_since(self, since: datetime) -> bool:
        """Whether a send of this relay got an answer that was not its failure after `since`."""
        with self._lock:
            return self._answered_at is not None and self._answered_at > since

    def seen_up(self) -> None:
        """Another relay's send through it passed (shared_pauses): this relay's pause ends as a
        passed probe would end it, though no message of its own was there to probe with."""
        with self._lock:
            if self._down_since is None:
                return
        self._resume()

    def probe_backoff(self) -> float:
        """The wait before the probe a pause now would start (for `pause`)."""
        with self._lock:
            probes = 1 if self._state is _State.UP else self._probes + 1
        return probe_delay(probes, base=self._base, cap=self._cap)

    def pause(self, reason: str, wait: float, recount: Recount | None = None) -> None:
        """Stop every sender using it, and let a message through as its probe `wait` seconds
        later (`recount`: see `answered`). A failed probe pauses it again, with a longer wait."""
        with self._lock:
            self._reason = reason
            if self._state is _State.DOWN:
                return
            first = self._state is _State.UP
            failed_probe = self._probes
            self._state = _State.DOWN
            self._pauses += 1
            if first:
                self._down_since = utcnow()
                self._probes = 0
                self._policy.clear()
                self._recount = recount
            self._probes += 1
            self._prober = threading.Thread(
                target=self._wait_and_probe, args=(wait,), name=f"probe-{self.name}", daemon=True
            )
            self._prober.start()
        if first:
            log.warning("provider paused", extra={"provider": self.name, "error": reason})
            self._on_change()
        else:
            metrics.FAILED_PROBES.labels(self.name).inc()
            log.info(
                "provider probe failed",
                extra={"provider": self.name, "probe": failed_probe, "error": reason},
            )

    def hold(self, since: datetime | None) -> None:
        """Held by an operator `since` then (None: no longer): while held, no sender takes it;
        sends that took it before finish."""
        if (since is None) == (self._held_since is None):
            return
        self._held_since = since
        held = since is not None
        log.warning("provider held" if held else "provider released", extra={"provider": self.name})
        self._on_change()

    def judged_down(self) -> tuple[datetime, str] | None:
        """Since when and why this relay has paused it on its own failure; None while up."""
        with self._lock:
            return None if self._down_since is None else (self._down_since, self._reason)

    def describe(self) -> str | None:
        """`provider NAME down since TIME: REASON` while paused, else None."""
        with self._lock:
            if self._held_since is not None:
                return f"provider {self.name} held by an operator"
            if self._down_since is None:
                return None
            since = self._down_since.strftime("%Y-%m-%dT%H:%M:%SZ")
            return f"provider {self.name} down since {since}: {self._reason}"

    def join(self, timeout: float) -> None:
        """Wait for the prober, if any, once the relay is stopping."""
        prober = self._prober
        if prober is not None:
            prober.join(timeout)

    def _wait_and_probe(self, wait: float) -> None:
        """Wait the backoff, then let the next message through as the probe."""
        if self._stopping.wait(wait):
            return
        with self._lock:
            if self._state is not _State.DOWN:  # another relay's send ended it (seen_up)
                return
            self._state, self._trial_taken = _State.TRIAL, False
        self._on_change()

    def _resume(self) -> None:
        with self._lock:
            down_since, self._down_since = self._down_since, None
            self._state, self._prober, self._recount = _State.UP, None, None
            probes = self._probes
        down_s = (utcnow() - down_since).total_seconds() if down_since else 0.0
        log.warning(
            "provider up again",
            extra={"provider": self.name, "probes": probes, "down_s": round(down_s, 1)},
        )
        self._on_change()
