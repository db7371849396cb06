"""Whose failure a provider's answer is, as a verdict, and what it refused beyond the message
(its consequences: shared/messaging/refusals.py); and the one rule for an HTTP endpoint's
status (an SMS gateway's, a webhook receiver's), which the relay and the SMS providers' specs
(shared/sms_providers) share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """Whose failure it is, and so what becomes of the message."""

    PERMANENT = "permanent"  # the recipient or the message: never try again
    TRANSIENT = "transient"  # this message, this time: try again later
    PROVIDER_DOWN = "provider_down"  # the provider or its configuration: pause it, keep the row
    # 5.7.0 or 5.7.1 at RCPT or DATA: this recipient's (a policy), or the provider's once
    # several recipients get it at once (see providers.Provider.judge).
    POLICY = "policy"


class Refusal(StrEnum):
    """Who or what a permanent failure refused."""

    # The address itself: SMTP 5.1.x (no such mailbox, bad domain), or an SMS provider's
    # invalid or non-mobile number.
    ADDRESS = "address"
    # The recipient asked the SMS provider for no more (replied STOP).
    OPTED_OUT = "opted_out"
    # A provider's report after it took the message: the address bounced for good.
    HARD_BOUNCE = "hard_bounce"
    # A provider's report: the recipient marked the message as spam.
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class Judgement:
    """A failed answer judged: the verdict, the error recorded, what a permanent failure
    refused beyond the message, whether the answer asks the sender to slow down, and the
    seconds it asks to be left alone for (a throttle's Retry-After)."""

    verdict: Verdict
    description: str
    refusal: Refusal | None = None
    slow_down: bool = False
    retry_after: float = 0.0


def classify_http(status: int) -> Verdict | None:
    """Whose failure an SMS gateway's or webhook receiver's answer is; None for 2xx.

    408, 429 and 5xx are transient; 401, 403 and 404 say the endpoint or its credentials are
    wrong, the provider's; 410 and other 4xx refuse this message for good.
    """
    if 200 <= status <= 299:
        return None
    if status in (408, 429) or status >= 500:
        return Verdict.TRANSIENT
    if status in (401, 403, 404):
        return Verdict.PROVIDER_DOWN
    return Verdict.PERMANENT


def judge_http(status: int, reason: str) -> Judgement | None:
    """An answer judged by its HTTP status alone (the gateway contract, webhooks)."""
    verdict = classify_http(status)
    if verdict is None:
        return None
    return Judgement(verdict, f"HTTP {status} {reason}".strip(), slow_down=status == 429)
