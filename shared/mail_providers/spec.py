"""What a mail provider is to Outpost, as one interface: how its URL reads and, for one reached
by its HTTP API, how each mail's request is written, how its answers are judged (its error
table), which of its reads `outpost check` makes. The relay's mail channels and `outpost check`
drive every provider through it; SMTP's own session lives in the relay's SMTP channel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeAlias

from shared.accounts.addresses import Sender
from shared.clock import utcnow
from shared.sms_providers.spec import THROTTLED, Answer, Outbound, Rule
from shared.verdicts import Judgement, Verdict, classify_http

if TYPE_CHECKING:
    # Only named: importing shared.settings here would import this module back, half made.
    from shared.settings.smtp_url import SmtpSettings

__all__ = ["THROTTLED", "Answer", "ApiSpec", "MailApi", "MailSpec", "Outbound", "Rule"]

# The custom data key under which a mail carries its outbox id to the APIs that take some
# (SendGrid's custom_args, Mailgun's user variables, Postmark's Metadata, Resend's tags): their
# reports carry it back (api_service/mail_reports).
OUTPOST_ID = "outpost_id"
# Seconds a mail provider's API has to answer one request (each of httpx's steps).
MAIL_API_TIMEOUT = 10.0


@dataclass(frozen=True)
class MailContent:
    """What a mail says, rendered once (outbox_relay/compose.py) and carried both in its RFC
    5322 bytes and to the APIs that take it in parts: the subject, the text and HTML bodies,
    and the headers beside From, To and Subject (Message-ID, List-Unsubscribe…)."""

    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...]


class MailText(Protocol):
    """One mail as a provider is handed it: the outbox public id, the envelope sender and
    recipient, the RFC 5322 bytes, and what they say in parts."""

    @property
    def id(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def content(self) -> MailContent | None: ...


@dataclass(frozen=True)
class MailApi:
    """One mail provider reached by its HTTP API: `kind` names its spec (registry.SPECS);
    `endpoint` is scheme://host[:port]; `key` its API key (SES: the secret access key, beside
    the key id in `account`); `domain` Mailgun's sending domain; `stream` Postmark's message
    stream; `region` SES's."""

    kind: str
    endpoint: str
    key: str = field(repr=False)
    account: str | None = None
    domain: str | None = None
    stream: str | None = None
    region: str | None = None


# A mail slot's provider: an SMTP server, or an API.
MailProvider: TypeAlias = "SmtpSettings | MailApi"
# Builds each mail's request to one provider, its constant parts computed once.
Requests = Callable[[MailText], Outbound]

# What the recorded error says of a code or status the table does not name.
_MEANINGS = {
    Verdict.PERMANENT: "refused",
    Verdict.TRANSIENT: "failed",
    Verdict.PROVIDER_DOWN: "provider refused",
}
# The longest Retry-After honoured: a provider's pause is probed at least this often.
LONGEST_RETRY_AFTER = 3600.0


class MailSpec(ABC):
    """A mail provider: one module of this package, one instance registered in registry.py."""

    # Its name, as MAIL_URL's scheme and the recorded errors name it.
    name: ClassVar[str]
    label: ClassVar[str]
    # The URL schemes it speaks for.
    schemes: ClassVar[frozenset[str]]

    @abstractmethod
    def parse(self, url: str) -> MailProvider:
        """The provider a URL of one of `schemes` names; ValueError saying what is wanted,
        never echoing a credential."""


class ApiSpec(MailSpec):
    """A mail provider reached by its HTTP API."""

    # Its documented errors, by the code `code_of` reads from an answer.
    errors: ClassVar[Mapping[str, Rule]] = {}

    @abstractmethod
    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """How each mail is handed to `provider`, from MAIL_FROM."""

    @abstractmethod
    def check(self, provider: MailApi) -> Outbound:
        """A GET the provider documents as a read, which sends nothing: what `outpost check`
        asks to see the API reached and the key taken."""

    @abstractmethod
    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """The error code a failed answer carries (a key of `errors`), if any, and its text."""

    @abstractmethod
    def provider_id(self, answer: Answer) -> str | None:
        """The provider's own id of a mail it took, when its answer carries one."""

    def checked(self, answer: Answer) -> Judgement | None:
        """The failure the answer to `check`'s read is; None when the key was taken."""
        return self.judge(answer)

    def judge(self, answer: Answer) -> Judgement | None:
        """The failure an answer is; None for 2xx. The table first; then HTTP 429 is a
        throttle, the provider's (as SMTP's 421: paused and probed, which slows it, no probe
        before its Retry-After); any other status as an HTTP endpoint's (5xx transient, 401,
        403 and 404 the provider's, other 4xx the message's)."""
        if 200 <= answer.status <= 299:
            return None
        code, text = self.code_of(answer)
        rule = self.errors.get(code) if code is not None else None
        if rule is None and answer.status == 429:
            rule = Rule(Verdict.PROVIDER_DOWN, THROTTLED)
        if rule is None:
            verdict = classify_http(answer.status) or Verdict.PERMANENT
            rule = Rule(verdict, _MEANINGS[verdict])
        what = f"{code} (HTTP {answer.status})" if code is not None else f"HTTP {answer.status}"
        throttled = rule.meaning == THROTTLED
        return Judgement(
            rule.verdict,
            " ".join(f"{self.label} {what} {rule.meaning}: {text}".split()),
            refusal=rule.refusal,
            slow_down=throttled,
            retry_after=retry_after(answer) if throttled else 0.0,
        )


def retry_after(answer: Answer, now: datetime | None = None) -> float:
    """The seconds an answer's Retry-After asks for (a number, or an HTTP date), at most
    LONGEST_RETRY_AFTER; 0 when it names none that reads."""
    value = answer.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    if value.isdigit():
        return min(float(value), LONGEST_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or utcnow())).total_seconds()
    return min(max(seconds, 0.0), LONGEST_RETRY_AFTER)


def text_of(answer: Answer, *names: str) -> str:
    """The first of the body's fields `names` that is a string, else the reason phrase."""
    for name in names:
        value = answer.body.get(name)
        if isinstance(value, str) and value:
            return value
    return answer.reason
