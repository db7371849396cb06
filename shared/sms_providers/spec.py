"""What an SMS provider is to Outpost, as one interface: how its URL reads, how each message's
request is written, how its answers are judged (its error table), and how its delivery
receipts are read and verified. The relay's one SMS channel and the API's one receipts route
drive every provider through it."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from shared.verdicts import Judgement, Refusal, Verdict, classify_http

if TYPE_CHECKING:
    from shared.sms_providers.receipts import ReceiptRequest, Receipts
    from shared.sms_providers.template import RequestFormat


class SmsText(Protocol):
    """One SMS as a provider is handed it: the outbox public id, the E.164 number, the text."""

    @property
    def id(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def body(self) -> str: ...


@dataclass(frozen=True)
class SmsContext:
    """What the specs read of the settings, beside a provider's URL: PUBLIC_URL (where receipts
    are asked for), SECRET_KEY then its fallbacks (which key a receipt URL), SMS_TOKEN, and the
    templated gateway's request format."""

    public_url: str | None
    secret_keys: tuple[str, ...] = field(repr=False)
    sms_token: str | None = field(repr=False)
    sms_request: RequestFormat | None


@dataclass(frozen=True)
class SmsProvider:
    """One SMS provider: `kind` names its spec (registry.SPECS); `endpoint` is the gateway's
    URL, or the API's scheme://host[:port]; a gateway's URL may carry credentials, so it is
    left out of the repr with the secret."""

    kind: str
    endpoint: str = field(repr=False)
    # Twilio: the account SID and auth token; Vonage: the API key and secret.
    account: str | None = None
    secret: str | None = field(default=None, repr=False)
    sender: str | None = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class Outbound:
    """One HTTP POST that hands a message to a provider: the body as a form, JSON or bytes."""

    url: str
    form: Mapping[str, str] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Answer:
    """A provider's answer as a spec reads it: the HTTP status, its reason phrase, the body,
    and the headers (names in lower case) that some providers answer in (SendGrid's message
    id, SES's error type, a throttle's Retry-After)."""

    status: int
    reason: str
    content: bytes = field(default=b"", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @cached_property
    def body(self) -> Mapping[str, Any]:
        """The body as a JSON object; empty when it is none (read once, when asked)."""
        try:
            body = json.loads(self.content)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Rule:
    """One line of a provider's error table: whose failure the code is, what the recorded
    error says of it, and what it refuses beyond the message."""

    verdict: Verdict
    meaning: str
    refusal: Refusal | None = None


THROTTLED = "throttled"
# What the recorded error says of a code or status the table does not name.
_MEANINGS = {
    Verdict.PERMANENT: "refused",
    Verdict.TRANSIENT: "failed",
    Verdict.PROVIDER_DOWN: "provider refused",
}

# Builds each message's request to one provider, its constant parts computed once.
Requests = Callable[[SmsText], Outbound]


class SmsSpec(ABC):
    """An SMS provider: one module of this package, one instance registered in registry.py."""

    # Its URL scheme, the name of its receipts route (/v1/provider-events/<name>) and of its
    # provider events' source.
    name: ClassVar[str]
    # As the recorded errors name it (`Twilio 21211 number refused: …`).
    label: ClassVar[str]
    # The URL schemes of SMS_URL it speaks for.
    schemes: ClassVar[frozenset[str]]
    # Whether it renders SMS_REQUEST_TEMPLATE: then it, not the spec it shares its schemes
    # with, takes those URLs when that variable is set.
    templated: ClassVar[bool] = False
    # Its documented error codes (Twilio's `code`, Vonage's per-message `status`).
    errors: ClassVar[Mapping[int, Rule]] = {}

    @abstractmethod
    def parse(self, url: str) -> SmsProvider:
        """The provider an SMS_URL of one of `schemes` names; ValueError saying what is wanted,
        never echoing a credential."""

    @abstractmethod
    def requests(self, provider: SmsProvider, context: SmsContext) -> Requests:
        """How each message is handed to `provider`."""

    @abstractmethod
    def judge(self, answer: Answer) -> Judgement | None:
        """The failure an answer is; None when the provider took the message."""

    def provider_id(self, answer: Answer) -> str | None:
        """The provider's own id of a message it took, when its answer carries one."""
        return None


class ReceivingSpec(SmsSpec):
    """An SMS provider that posts delivery receipts: how they read, and how one is verified."""

    receipts: ClassVar[Receipts]

    @abstractmethod
    def read_receipt(
        self, request: ReceiptRequest, providers: list[SmsProvider], context: SmsContext
    ) -> Mapping[str, str]:
        """A receipt's fields once the request is verified as one of `providers`' own."""

    def coded(self, status: int, code: int | None, text: str) -> Judgement:
        """The failure of an answer with its HTTP `status` and the error `code` it carries, if
        any: the table first; then HTTP 429 is throttling, the provider's (as SMTP's 421: the
        provider is paused and probed, which slows it); any other status is judged as a
        gateway's, and a `200` refusing the message with a code the table does not name is
        permanent."""
        rule = self.errors.get(code) if code is not None else None
        if rule is None and status == 429:
            rule = Rule(Verdict.PROVIDER_DOWN, THROTTLED)
        if rule is None:
            verdict = classify_http(status) or Verdict.PERMANENT
            rule = Rule(verdict, _MEANINGS[verdict])
        what = str(code) if code is not None else f"HTTP {status}"
        return Judgement(
            rule.verdict,
            " ".join(f"{self.label} {what} {rule.meaning}: {text}".split()),
            refusal=rule.refusal if code is not None else None,
            slow_down=rule.meaning == THROTTLED,
        )
