"""What becomes of one claimed row, decided in this one place from what its delivery met.

River's job executor is the model (internal/jobexecutor, `reportError`): meet.py makes the
call, this module decides, doer.py does the decision. Its functions are pure: from the
row, what stopped it before a send (`Gate`, gates.py) or what the send met (`Accepted`,
`SendFailed`, or the exception it raised), the settings and the time, to a `Decision`: the
`Outcome` to collect or the time the row is handed back untried, whether its code goes again on
the account's other channel, and what its provider and its sessions must do; and what a written
outcome does to its row (`mark`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from outbox_relay import claims, marks
from outbox_relay.backoff import probe_lead, retry_delay
from outbox_relay.failures import Deferred, DeliveryFailure, Verdict
from outbox_relay.gates import Gate
from outbox_relay.render import TemplateError
from shared.messaging.fallbacks import FALLS_BACK, refuses_address
from shared.messaging.outbox import Ending
from shared.messaging.refusals import Refusal
from shared.secrets.secretbox import SealedUnderOtherKey
from shared.settings.config import Settings


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt, waiting to be written to its row."""

    row: claims.Claimed
    name: Ending
    ms: int
    error: str | None = None
    retry_in: float | None = None
    provider_id: str | None = None  # the provider's own id of a sent message, if it gave one
    refusal: Refusal | None = None  # what a permanent failure refused beyond the message
    fallback: bool = False  # its code goes again on the account's other channel (fallbacks.py)


@dataclass(frozen=True)
class Accepted:
    """The provider took the message, under its own id if it gave one."""

    provider_id: str | None


@dataclass(frozen=True)
class SendFailed:
    """A send's failure with its provider's verdict (the policy rule counted); for one that
    is the provider's, the wait before its probe and whether another provider of the channel
    may be used now."""

    failure: DeliveryFailure
    verdict: Verdict
    probe_wait: float = 0.0
    another_takes: bool = False


# What a delivery met: a gate, the send's answer, or what the send raised.
Met = Gate | Accepted | SendFailed | Exception


class Tell(Enum):
    """What a row's provider is told of the send taken for it."""

    NOTHING = "nothing"  # none was taken
    UNTRIED = "untried"  # taken, never reached: a trial goes to the next send
    ANSWERED = "answered"  # it answered for the message: a trial ends its pause


@dataclass(frozen=True)
class PauseProvider:
    """Pause the provider, its probe `wait` seconds on, and restart its sessions from one;
    `recount` is the failure counted as its message's try (as of a time), should that first
    probe pass (Provider.answered)."""

    reason: str
    wait: float
    recount: Callable[[datetime], Outcome]


@dataclass(frozen=True)
class Note:
    """What the operator is told with the row's id: `bug`'s traceback, if any; `once`: only the
    first time this relay decides so of the row."""

    level: int
    message: str
    error: str | None = None
    bug: Exception | None = None
    once: bool = False


@dataclass(frozen=True)
class HandBack:
    """The row goes back untried, due again at `due`; its code on the other channel too
    (`fallback`) once it has waited CODE_FALLBACK_AFTER for a provider."""

    due: datetime
    fallback: bool = False


@dataclass(frozen=True)
class Decision:
    """What becomes of a row: an outcome to collect, or a hand-back; what its provider is told,
    or its pause; what the operator is told. An outcome that `poses` is collected once the time
    its provider takes to accept a message has passed, its `ms` that wait."""

    fate: Outcome | HandBack
    provider: Tell | PauseProvider = Tell.NOTHING
    note: Note | None = None
    poses: bool = False


def decide(
    row: claims.Claimed,
    met: Met,
    now: datetime,
    settings: Settings,
    *,
    ms: int = 0,
    rng: random.Random | None = None,
) -> Decision:
    """What becomes of `row`, whose delivery met `met`, `ms` milliseconds into its send.

    `now` is when its delivery began for a gate or what a send raised (a hand-back is due
    from it), and when the answer came for an answer (the horizon is reckoned from it).
    """
    if isinstance(met, Gate):
        return _gated(row, met, now, settings)
    if isinstance(met, Accepted):
        sent = Outcome(row, Ending.SENT, ms, provider_id=met.provider_id)
        return Decision(sent, provider=Tell.ANSWERED)
    if isinstance(met, SendFailed):
        return _refused(row, met, now, settings, ms, rng)
    return _raised(row, met, now, settings, ms)


def _gated(row: claims.Claimed, gate: Gate, now: datetime, settings: Settings) -> Decision:
    """A row stopped by `gate` before any send; a code whose address is suppressed, or that
    has waited long enough for a provider of its channel, goes on the other channel too."""
    if gate is Gate.EXPIRED:
        return Decision(Outcome(row, Ending.EXPIRED, 0, "horizon passed before delivery"))
    if gate is Gate.SUPPRESSED:
        suppressed = "address on the suppression list"
        falls_back = fallback_in(row, now, settings) is not None
        return Decision(Outcome(row, Ending.SUPPRESSED, 0, suppressed, fallback=falls_back))
    if gate is Gate.WITHHELD:
        return Decision(Outcome(row, Ending.WITHHELD, 0), provider=Tell.UNTRIED, poses=True)
    untried = Tell.UNTRIED if gate is Gate.BUDGET_UNKNOWN else Tell.NOTHING
    falls_back = gate is Gate.NO_PROVIDER and fallback_in(row, now, settings) == 0.0
    return Decision(HandBack(now, fallback=falls_back), provider=untried)


def _refused(
    row: claims.Claimed,
    refused: SendFailed,
    now: datetime,
    settings: Settings,
    ms: int,
    rng: random.Random | None,
) -> Decision:
    """A failed send: its outcome, and its provider paused when the failure is the provider's.

    The message then waits for another provider, or else until just after the probe, which is
    then the next due message: one the provider refuses for its own sake neither stalls the
    others nor passes for a probe that failed.
    """
    failure, verdict = refused.failure, refused.verdict
    error = failure.description
    if verdict is not Verdict.PROVIDER_DOWN:
        deferral = settings.relay_deferral_floor if failure.deferred else 0.0
        floor = max(failure.retry_floor, deferral)
        outcome = failed(row, verdict, error, ms, now, settings, floor, failure.refusal, rng)
        if outcome.name is Ending.PERMANENT_ERROR and refuses_address(failure.refusal):
            outcome = replace(outcome, fallback=fallback_in(row, now, settings) is not None)
        return Decision(outcome, provider=Tell.ANSWERED)
    lead = probe_lead(settings.relay_backoff_base)
    due_in = 0.0 if refused.another_takes else refused.probe_wait + lead
    # A code is due again, for its fallback, once it has waited long enough (claims.py).
    fallback = fallback_in(row, now, settings)
    due_in = min(due_in, fallback) if fallback is not None else due_in
    down = replace(failed(row, verdict, error, ms, now, settings, due_in), fallback=fallback == 0)

    def recount(at: datetime) -> Outcome:
        counted = failed(row, Verdict.TRANSIENT, error, ms, at, settings, rng=rng)
        return replace(counted, fallback=down.fallback)

    return Decision(down, provider=PauseProvider(error, refused.probe_wait, recount))


def _raised(
    row: claims.Claimed, exc: Exception, now: datetime, settings: Settings, ms: int
) -> Decision:
    """A send that raised before any answer: its provider was never reached."""
    if isinstance(exc, Deferred):
        return Decision(HandBack(now + timedelta(seconds=exc.retry_in)), provider=Tell.UNTRIED)
    if isinstance(exc, SealedUnderOtherKey):
        # Nothing is wrong with the message, the relay holds the wrong keys (the API rotated
        # to a key it lacks): back untried for a relay that can open it, or `expired` at its
        # horizon; never dead. The relay refuses to start with such keys (keyring.admit).
        due = now + timedelta(seconds=settings.relay_lease_seconds)
        return Decision(HandBack(due), provider=Tell.UNTRIED, note=_SEALED)
    if isinstance(exc, TemplateError):
        # An operator's template that fails, or goes past its budget, for this message: the
        # message dies with the file named; the others go on.
        dead = Outcome(row, Ending.PERMANENT_ERROR, ms, str(exc))
        note = Note(logging.WARNING, "template failed", error=str(exc))
        return Decision(dead, provider=Tell.UNTRIED, note=note)
    bug = f"{type(exc).__name__}: {exc}"[:500]
    dead = Outcome(row, Ending.PERMANENT_ERROR, ms, bug)
    note = Note(logging.ERROR, "unexpected failure", bug=exc)
    return Decision(dead, provider=Tell.UNTRIED, note=note)


# Once a message: after a lost key, each comes back every lease until its horizon (a day).
_SEALED = Note(
    logging.ERROR,
    "secrets sealed under a key this relay does not hold: give it the API's SECRET_KEY (an "
    "older one in SECRET_KEY_FALLBACKS); message handed back until a relay holding it sends "
    "it, or its horizon",
    once=True,
)


def failed(
    row: claims.Claimed,
    verdict: Verdict,
    error: str,
    ms: int,
    now: datetime,
    settings: Settings,
    floor: float = 0.0,
    refusal: Refusal | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    """What a failed attempt does to its row, as of `now`.

    A provider's failure leaves the row due in `floor` seconds (at once, but for a failed
    probe's message): a fallback takes it, or it waits unclaimed until its provider is back,
    and it does not count as an attempt. A transient one is retried with backoff, no sooner
    than `floor` seconds (a deferral at RCPT or DATA: RELAY_DEFERRAL_FLOOR), never past the
    row's horizon; past RELAY_MAX_ATTEMPTS it dies.
    """
    if verdict is Verdict.PERMANENT:
        return Outcome(row, Ending.PERMANENT_ERROR, ms, error, refusal=refusal)
    if verdict is Verdict.PROVIDER_DOWN:
        return Outcome(row, Ending.PROVIDER_DOWN, ms, error, retry_in=floor)
    if row.attempts + 1 >= settings.relay_max_attempts:
        return Outcome(row, Ending.MAX_ATTEMPTS, ms, error)
    delay = retry_delay(
        row.attempts + 1, base=settings.relay_backoff_base, cap=settings.relay_backoff_cap, rng=rng
    )
    delay = max(delay, floor)
    if row.expires_at is not None:
        delay = min(delay, max(0.0, (row.expires_at - now).total_seconds()))
    return Outcome(row, Ending.RETRY, ms, error, retry_in=delay)


def mark(outcome: Outcome, at: datetime) -> marks.Mark:
    """What an outcome written at `at` does to its row."""
    attempt = marks.Attempt(outcome.name.attempt, at, outcome.ms, outcome.error)
    if outcome.retry_in is not None:
        retry_at = at + timedelta(seconds=outcome.retry_in or 0.0)
        return marks.Mark(outcome.row, attempt, retry_at=retry_at, fallback=outcome.fallback)
    if outcome.name is Ending.SENT:
        return marks.Mark(outcome.row, attempt, provider_id=outcome.provider_id)
    if outcome.name is Ending.WITHHELD:
        return marks.Mark(outcome.row, attempt, withheld=True)
    dead = outcome.name.dead_reason
    return marks.Mark(
        outcome.row, attempt, dead_reason=dead, refusal=outcome.refusal, fallback=outcome.fallback
    )


def fallback_in(row: claims.Claimed, now: datetime, settings: Settings) -> float | None:
    """Seconds until `row`'s code may go again on the account's other channel for want of a
    provider (0.0: now; at once when its address refused it); None when it never does: no
    CODE_FALLBACK_AFTER, not such a code, or its fallback decided already, or itself one."""
    after = settings.code_fallback_after
    if after is None or row.purpose not in FALLS_BACK or row.fallback_at is not None:
        return None
    waited = (now - row.created_at).total_seconds() if row.created_at is not None else 0.0
    return max(0.0, after - waited)
