"""What a conformance case of an SMS provider declares (support/sms_conformance.py holds one per
provider, tests/relay/test_sms_conformance.py runs them), and what every case shares: the settings,
the message sent, the shapes of answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any

from shared.settings.config import Settings
from shared.sms_providers.spec import Answer, Outbound, SmsProvider
from shared.sms_providers.template import Sms
from support.constants import SECRET_KEY
from support.processes import ROOT
from support.receipt_requests import Post

PUBLIC_URL = "https://outpost.example.com"
EVENTS_TOKEN = "provider-events-token-0123456789"
SMS_TOKEN = "gateway-sms-token-hunter2"
AT_KEY = "atsk_hunter2_0123456789abcdef"
# One message, its text holding what a body's encoding must carry intact.
MESSAGE = Sms(
    "0b8f6d3e-5a41-4c1e-9f0e-3c2a1b0d9e8f",
    "+237670123456",
    'Your code is 123456 & "more"? a+b=c; 100% é',
)


@dataclass(frozen=True)
class Sent:
    """A message as a provider's request carries it: the number as the provider documents
    it, the text, and every place it carries Outpost's id of the message (an idempotency key,
    a client reference)."""

    to: str
    text: str
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """What a receipt reports: of the message handed over by request `sent` to `provider`,
    which gave it id `message_id`, the status and error code."""

    sent: Outbound
    provider: SmsProvider
    message_id: str
    status: str
    code: str = ""


@dataclass(frozen=True)
class ReceiptCase:
    """A receiving provider's receipts: how a genuine one is posted, and forged ones."""

    genuine: Callable[[Receipt], Post]
    forged: Mapping[str, Callable[[Receipt], Post]]


@dataclass(frozen=True)
class Case:
    """One provider: a valid SMS_URL and what it reads to; URLs refused, each holding the
    credential `secret`; where its requests go, how they carry a message and which secrets
    their body must hold; its answers (a success, a bare HTTP status, an error code); its
    receipts when it sends some."""

    url: str
    parsed: SmsProvider
    secret: str = field(repr=False)
    bad_urls: tuple[str, ...]
    endpoint: str
    number: Callable[[str], str]
    read: Callable[[Outbound], Sent]
    references: bool
    success: Answer
    provider_id: str | None
    failed: Callable[[int], Answer]
    body_secrets: tuple[str, ...] = ()
    coded: Callable[[int], Answer] | None = None
    unknown_code: int | None = None
    receipt: ReceiptCase | None = None


@cache
def settings() -> Settings:
    """The settings every case's requests and receipts read (PUBLIC_URL, SECRET_KEY,
    SMS_TOKEN, the example template with its SMS_HEADERS, PROVIDER_EVENTS_TOKEN)."""
    return Settings.from_env(
        {
            "SECRET_KEY": SECRET_KEY,
            "PUBLIC_URL": PUBLIC_URL,
            "SMS_TOKEN": SMS_TOKEN,
            "SMS_URL": "https://api.africastalking.com/version1/messaging",
            "SMS_ALLOWED_REGIONS": "CM",
            "SMS_REQUEST_TEMPLATE": str(ROOT / "examples" / "sms" / "africastalking.form"),
            "SMS_HEADERS": "apiKey: ${AT_API_KEY}\nAccept: application/json",
            "AT_API_KEY": AT_KEY,
            "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
        }
    )


def json_answer(status: int, body: Any) -> Answer:
    """An answer with a JSON body."""
    return Answer(status, HTTPStatus(status).phrase, json.dumps(body).encode())


def form_of(outbound: Outbound) -> Mapping[str, str]:
    """The request's form, which it must have."""
    assert outbound.form is not None
    return outbound.form


def same(number: str) -> str:
    """E.164 as it is."""
    return number
