"""The one table of whose failure a reply is (spec: "Errors — the message or the provider"),
case by case, and the policy rule that turns 4.7.x, 5.7.0 / 5.7.1 into the provider's."""

from __future__ import annotations

import threading

import pytest

from outbox_relay.failures import (
    DeliveryFailure,
    Stage,
    Verdict,
    classify_smtp,
    enhanced_code,
    failure_of,
    smtp_failure,
)
from outbox_relay.providers import Provider
from shared.messaging.refusals import Refusal, failure_reason, suppression_of
from shared.sms_providers import twilio, vonage
from shared.verdicts import classify_http

P, T, D, POLICY = Verdict.PERMANENT, Verdict.TRANSIENT, Verdict.PROVIDER_DOWN, Verdict.POLICY

SMTP_CASES = [
    # Before the message: whatever fails is the provider's.
    (Stage.CONNECT, None, "ConnectionRefusedError", D),
    (Stage.CONNECT, None, "TimeoutError: timed out", D),
    (Stage.GREETING, None, "no greeting", D),
    (Stage.GREETING, 554, "5.7.1 go away", D),
    (Stage.GREETING, 421, "4.3.2 service not available", D),
    (Stage.EHLO, 550, "not welcome", D),
    (Stage.STARTTLS, None, "SSLCertVerificationError", D),
    (Stage.STARTTLS, 454, "4.7.0 TLS not available", D),
    (Stage.AUTH, 535, "5.7.8 Authentication credentials invalid", D),
    (Stage.AUTH, 534, "5.7.9 please log in with your web browser", D),
    (Stage.MAIL, 550, "5.7.1 sender not allowed", D),
    (Stage.MAIL, 553, "5.7.0 sender policy", D),
    (Stage.MAIL, 451, "4.3.0 try later", D),
    (Stage.MAIL, 550, "5.4.5 Daily user sending quota exceeded", D),
    # Quotas and throttling at the message's own steps: still the provider's.
    (Stage.RCPT, 550, "5.4.5 Daily sending quota exceeded", D),
    (Stage.RCPT, 421, "4.7.0 too many connections", D),
    (Stage.RCPT, 454, "Throttling failure: Maximum sending rate exceeded", D),
    (Stage.MAIL, 450, "4.7.1 Error: too much mail from 127.0.0.1", D),
    # The recipient's or the message's own: 4xx transient, 5.1/5.2/5.3/5.6 or bare 5xx
    # permanent, 5.7.0 / 5.7.1 policy, any other 5xx permanent.
    (Stage.RCPT, 450, "4.2.1 mailbox busy", T),
    (Stage.RCPT, 451, "4.3.0 local error", T),
    (Stage.RCPT, 452, "4.5.3 too many recipients", T),
    (Stage.RCPT, 450, "try again", T),
    (Stage.DATA, None, "SMTPServerDisconnected: Connection unexpectedly closed", T),
    (Stage.RCPT, None, "TimeoutError", T),
    (Stage.RCPT, 550, "5.1.1 no such user", P),
    (Stage.RCPT, 553, "5.1.3 bad address syntax", P),
    (Stage.RCPT, 552, "5.2.2 mailbox full", P),
    (Stage.DATA, 554, "5.3.4 message too big", P),
    (Stage.DATA, 554, "5.6.0 bad content", P),
    (Stage.RCPT, 550, "Rejected", P),
    (Stage.DATA, 554, "5.5.0 transaction failed", P),
    (Stage.DATA, 550, "5.7.26 unauthenticated mail (DMARC)", P),
    (Stage.RCPT, 550, "5.7.1 relaying denied", POLICY),
    (Stage.DATA, 554, "5.7.0 message refused by policy", POLICY),
    # 4.7.x at RCPT or DATA: this message's (greylisting, a per-recipient rate), however
    # many recipients get it: a greylister defers every new recipient.
    (Stage.RCPT, 450, "4.7.1 <a@example.com>: Recipient address rejected: Greylisted", T),
    (Stage.RCPT, 450, "4.7.1 rate limited", T),
    (Stage.DATA, 451, "4.7.1 try again later", T),
    (Stage.DATA, 452, "4.7.0 quota", T),
]


@pytest.mark.parametrize(("stage", "code", "text", "verdict"), SMTP_CASES)
def test_smtp_reply_at_a_stage_has_the_spec_verdict(
    stage: Stage, code: int | None, text: str, verdict: Verdict
) -> None:
    assert classify_smtp(stage, code, text) is verdict


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, None),
        (202, None),
        (204, None),
        (408, T),
        (429, T),
        (500, T),
        (503, T),
        (401, D),
        (403, D),
        (404, D),
        (400, P),
        (410, P),
        (422, P),
    ],
)
def test_http_status_has_the_spec_verdict(status: int, verdict: Verdict | None) -> None:
    assert classify_http(status) is verdict


def test_enhanced_codes_are_read_only_at_the_start_of_the_text() -> None:
    assert enhanced_code("5.1.1 <a@b>: no such user") == "5.1.1"
    assert enhanced_code("  4.7.0 slow down") == "4.7.0"
    assert enhanced_code("no such user 5.1.1") is None
    assert enhanced_code("3.1.1 nonsense") is None


def provider() -> Provider:
    return Provider(
        "smtp",
        backoff_base=60.0,
        backoff_cap=60.0,
        stopping=threading.Event(),
        on_change=lambda: None,
    )


def test_policy_refusals_pause_the_provider_only_from_three_distinct_recipients() -> None:
    smtp = provider()
    refusal = DeliveryFailure(POLICY, "SMTP 550 5.7.1 refused at rcpt")
    assert smtp.judge(refusal, "a@example.com") is T
    assert smtp.judge(refusal, "a@example.com") is T
    assert smtp.judge(refusal, "b@example.com") is T
    assert smtp.judge(refusal, "c@example.com") is D


def test_a_deferral_at_rcpt_or_data_is_the_messages_and_waits_a_minute_a_drop_does_not() -> None:
    smtp = provider()
    greylisted = smtp_failure(Stage.RCPT, 450, "4.7.1 Greylisted")
    dropped = smtp_failure(Stage.DATA, None, "SMTPServerDisconnected: closed")
    refused = smtp_failure(Stage.RCPT, 550, "5.7.1 refused")
    assert (greylisted.kind, refused.kind) == (None, "5.7")
    assert (greylisted.deferred, dropped.deferred) == (True, False)
    assert dropped.verdict is T
    assert smtp_failure(Stage.MAIL, 450, "4.7.1 too much mail").deferred is False
    for recipient in ("a", "b", "c", "d"):
        assert smtp.judge(greylisted, f"{recipient}@example.com") is T


@pytest.mark.parametrize(
    ("text", "too_many"),
    [
        ("4.7.0 mail.example.com Error: too many connections from 127.0.0.1", True),
        ("Too many concurrent SMTP connections; please try again later.", True),
        ("4.3.2 service not available", False),
    ],
)
def test_a_421_naming_too_many_connections_is_told_apart(text: str, too_many: bool) -> None:
    assert smtp_failure(Stage.GREETING, 421, text).too_many_sessions is too_many
    assert smtp_failure(Stage.GREETING, 554, text).too_many_sessions is False


def test_other_verdicts_pass_through_the_policy_rule() -> None:
    smtp = provider()
    for verdict in (P, T, D):
        assert smtp.judge(DeliveryFailure(verdict, "x"), "a@example.com") is verdict


@pytest.mark.parametrize(
    ("failure", "refusal"),
    [
        (smtp_failure(Stage.RCPT, 550, "5.1.1 no such user"), Refusal.ADDRESS),
        (smtp_failure(Stage.RCPT, 553, "5.1.3 bad address syntax"), Refusal.ADDRESS),
        (smtp_failure(Stage.RCPT, 450, "4.1.1 try later"), None),
        (smtp_failure(Stage.DATA, 554, "5.7.1 rejected as spam"), None),
        (smtp_failure(Stage.RCPT, 550, "no such user"), None),
        (failure_of(twilio.SPEC.coded(400, 21211, "invalid To")), Refusal.ADDRESS),
        (failure_of(twilio.SPEC.coded(400, 21614, "not a mobile")), Refusal.ADDRESS),
        (failure_of(twilio.SPEC.coded(400, 21610, "replied STOP")), Refusal.OPTED_OUT),
        (failure_of(vonage.SPEC.coded(200, 29, "non-whitelisted")), None),
        (failure_of(twilio.SPEC.coded(400, None, "bad request")), None),
    ],
    ids=lambda value: getattr(value, "description", str(value)),
)
def test_what_a_failure_refused_is_decided_where_it_is_judged(
    failure: DeliveryFailure, refusal: Refusal | None
) -> None:
    assert failure.refusal == refusal


def test_each_refusal_says_the_clients_reason_and_the_suppression_in_one_table() -> None:
    died = {r: (failure_reason("dead", "permanent_error", r), suppression_of(r)) for r in Refusal}
    assert died == {
        Refusal.ADDRESS: ("address_rejected", "rejected"),
        Refusal.OPTED_OUT: ("undeliverable", "complaint"),
        Refusal.HARD_BOUNCE: ("address_rejected", "hard_bounce"),
        Refusal.COMPLAINT: ("address_rejected", "complaint"),
    }
    assert failure_reason("dead", "permanent_error", None) == "undeliverable"
    assert failure_reason("dead", "suppressed", None) == "address_rejected"
    assert failure_reason("dead", "max_attempts", Refusal.ADDRESS) == "undeliverable"
    # A bounce that refused its address keeps no dead reason; one that did not, permanent_error.
    assert failure_reason("bounced", None, Refusal.HARD_BOUNCE) == "address_rejected"
    assert failure_reason("bounced", "permanent_error", None) == "undeliverable"
    assert failure_reason("sent", None, None) == "undeliverable"
    assert suppression_of(None) is None
