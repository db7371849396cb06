"""What a failed delivery belongs to, decided in this one place: the message or the provider.

A failure that belongs to the recipient or the message is final for that message (permanent)
or worth another try later (transient). A failure that belongs to the provider or its
configuration (a revoked password, a quota, an outage) says nothing about the message: the
provider is paused and the message waits, whatever it is. Postfix is the model: a 535 at AUTH
defers the mail and suspends delivery through that relay; it never bounces it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from enum import StrEnum

from shared.messaging.refusals import Refusal

# The verdicts, and the HTTP status rule, are shared with the SMS providers' specs, which judge
# their own answers (shared/sms_providers); the relay's modules read Verdict from here.
from shared.verdicts import Judgement, judge_http
from shared.verdicts import Verdict as Verdict


class Stage(StrEnum):
    """The step of an SMTP session a reply (or its absence) came at."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


# Stages before the message's own: whatever fails there is the provider's.
SESSION_STAGES = frozenset(
    {Stage.CONNECT, Stage.GREETING, Stage.EHLO, Stage.STARTTLS, Stage.AUTH, Stage.MAIL}
)
# Replies that say "too much, slow down" wherever they come: the provider's, never the message's.
_THROTTLING_CODES = frozenset({421, 454})
_THROTTLING_ENHANCED = frozenset({"5.4.5"})
# Enhanced classes (RFC 3463) of the recipient's or the message's own refusals.
_MESSAGE_CLASSES = frozenset({"1", "2", "3", "6"})
_POLICY_ENHANCED = frozenset({"5.7.0", "5.7.1"})

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
# A 421 that says the server holds too many of our sessions (Postfix: "too many connections
# from …", for its count limit and its rate limit alike; Exim: "too many concurrent SMTP
# connections").
_TOO_MANY_CONNECTIONS = re.compile(r"too many (?:\w+ )*connections", re.IGNORECASE)


class DeliveryFailure(Exception):
    """A delivery attempt failed; `verdict` says whose failure it is.

    `refusal` says what a permanent failure refused beyond the message (the address, a
    recipient's opt-out), which the message's death suppresses and tells its client;
    `kind` groups the POLICY refusals a provider counts together (`5.7`);
    `too_many_sessions` marks a server refusing one more of our sessions; `retry_floor` is the
    soonest the message may be tried again, in seconds; `deferred` marks a 4xx reply at RCPT or
    DATA, tried again no sooner than RELAY_DEFERRAL_FLOOR; `slow_down` marks a throttling
    reply, which halves the sessions;
    `refused_greeting` marks a new session refused with 421 at the greeting (a rate limit, when
    other sessions deliver).
    """

    def __init__(
        self,
        verdict: Verdict,
        description: str,
        *,
        refusal: Refusal | None = None,
        kind: str | None = None,
        too_many_sessions: bool = False,
        retry_floor: float = 0.0,
        deferred: bool = False,
        slow_down: bool = False,
        refused_greeting: bool = False,
    ) -> None:
        super().__init__(description)
        self.verdict = verdict
        self.description = description[:500]
        self.refusal = refusal
        self.kind = kind
        self.too_many_sessions = too_many_sessions
        self.retry_floor = retry_floor
        self.deferred = deferred
        self.slow_down = slow_down
        self.refused_greeting = refused_greeting


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 enhanced status code a reply's text starts with (`5.1.1`), if any."""
    match = _ENHANCED.match(text.strip())
    return ".".join(match.groups()) if match else None


def classify_smtp(stage: Stage, code: int | None, text: str = "") -> Verdict:
    """Whose failure an SMTP reply `code` (None: no reply, the connection failed) at `stage` is.

    The spec's table: no reply or any refusal before RCPT (connect, greeting, EHLO, STARTTLS,
    AUTH, MAIL FROM), and quota or throttling replies anywhere (421, 454, 550 5.4.5), are the
    provider's. At RCPT and DATA, a dropped connection or a 4xx (greylisting's `450 4.7.1 …
    Greylisted` included) is transient for the message alone; 5.7.0 / 5.7.1 are policy, the
    provider's only when several recipients get them; any other 5xx is permanent.
    """
    if code is None:
        return Verdict.PROVIDER_DOWN if stage in SESSION_STAGES else Verdict.TRANSIENT
    enhanced = enhanced_code(text)
    if stage in SESSION_STAGES or code in _THROTTLING_CODES or enhanced in _THROTTLING_ENHANCED:
        return Verdict.PROVIDER_DOWN
    if _policy_kind(code, enhanced) is not None:
        return Verdict.POLICY
    return Verdict.TRANSIENT if 400 <= code <= 499 else Verdict.PERMANENT


def _policy_kind(code: int, enhanced: str | None) -> str | None:
    """`5.7` for the refusals a provider counts over recipients, else None."""
    return "5.7" if 500 <= code <= 599 and enhanced in _POLICY_ENHANCED else None


def smtp_failure(stage: Stage, code: int | None, text: str) -> DeliveryFailure:
    """The failure of an SMTP reply, or of a connection error when `code` is None."""
    where = f"at {stage.value}"
    description = f"SMTP {code} {text} {where}" if code is not None else f"{text} {where}"
    verdict = classify_smtp(stage, code, text)
    kind = _policy_kind(code, enhanced_code(text)) if code is not None else None
    # A greylister's 4xx, not a dropped connection: that is a fault of the moment (a server
    # restarting mid-message) and takes the ordinary backoff.
    deferred = (
        verdict is Verdict.TRANSIENT and stage in (Stage.RCPT, Stage.DATA) and code is not None
    )
    enhanced = enhanced_code(text)
    # RFC 3463 class 5.1: the address (mailbox, domain) is what the server refused.
    refused = code is not None and 500 <= code <= 599 and (enhanced or "").startswith("5.1.")
    return DeliveryFailure(
        verdict,
        " ".join(description.split()),
        refusal=Refusal.ADDRESS if refused else None,
        kind=kind if verdict is Verdict.POLICY else None,
        too_many_sessions=code == 421 and _TOO_MANY_CONNECTIONS.search(text) is not None,
        deferred=deferred,
        slow_down=code in _THROTTLING_CODES or enhanced in _THROTTLING_ENHANCED,
        refused_greeting=stage is Stage.GREETING and code == 421,
    )


# The soonest a message whose end of DATA went unanswered is tried again. Its outcome is
# unknown: the server may have delivered it and only its reply failed (RFC 1047), so a retry
# may be a second copy; an hour lets a provider that delivered late be seen doing so (a
# bounce, a receipt, the recipient's own use of the code) before that risk is taken, and a
# message it lost still arrives, as a deferral's would, within a code's lifetime.
UNANSWERED_RETRY_FLOOR = 3600.0


def unanswered(waited: float) -> DeliveryFailure:
    """The end of DATA was sent and no reply came within `waited` seconds: transient for the
    message alone (the provider answered every step before it), retried no sooner than
    UNANSWERED_RETRY_FLOOR."""
    return DeliveryFailure(
        Verdict.TRANSIENT,
        f"no reply to the end of DATA within {waited:g}s: outcome unknown, the message may "
        "have been delivered",
        retry_floor=UNANSWERED_RETRY_FLOOR,
    )


def failure_of(judgement: Judgement) -> DeliveryFailure:
    """The failure a provider's judged answer is (an SMS provider's spec judges its own)."""
    return DeliveryFailure(
        judgement.verdict,
        judgement.description,
        refusal=judgement.refusal,
        slow_down=judgement.slow_down,
        retry_floor=judgement.retry_after,
    )


def http_failure(status: int, reason: str) -> DeliveryFailure | None:
    """The failure of an HTTP answer (the webhook receiver's); None for 2xx."""
    judgement = judge_http(status, reason)
    return None if judgement is None else failure_of(judgement)


def network_failure(exc: Exception) -> DeliveryFailure:
    """An HTTP request that got no answer: transient (the spec's rule for gateways)."""
    return DeliveryFailure(Verdict.TRANSIENT, f"{type(exc).__name__}: {exc}")


# 5.7.0 or 5.7.1 at RCPT or DATA pause the provider once this many distinct recipients get
# it within POLICY_WINDOW seconds: one recipient's policy is the recipient's, many the sender's.
POLICY_RECIPIENTS = 3
POLICY_WINDOW = 60.0


class PolicyRule:
    """One provider's POLICY refusals of the last POLICY_WINDOW seconds, by kind: whether the
    next is the provider's (shared by every sender of a relay)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[tuple[float, str]]] = {}

    def judge(self, failure: DeliveryFailure, recipient: str) -> Verdict:
        """The verdict on a failure, once its recipient is counted: a POLICY refusal is the
        provider's when POLICY_RECIPIENTS distinct recipients got it, else transient."""
        if failure.verdict is not Verdict.POLICY:
            return failure.verdict
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(failure.kind or "", deque())
            window.append((now, recipient))
            while window and window[0][0] < now - POLICY_WINDOW:
                window.popleft()
            recipients = {address for _, address in window}
        return Verdict.PROVIDER_DOWN if len(recipients) >= POLICY_RECIPIENTS else Verdict.TRANSIENT

    def clear(self) -> None:
        """Forget every refusal counted (the provider paused: a new count starts)."""
        with self._lock:
            self._windows.clear()


class Deferred(Exception):
    """Not a failure: the provider's rate has no slot for the message before its lease ends;
    it is handed back, due in `retry_in` seconds, untried."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"no rate slot for {retry_in:.1f}s")
        self.retry_in = retry_in
