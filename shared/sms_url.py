"""SMS_URL and SMS_FALLBACK_URL read: which SMS provider, where its API is, with what account."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from urllib.parse import parse_qs, unquote, urlsplit

from shared.codes import derive_key
from shared.config_values import loopback

# A sender Twilio or Vonage accept: a number in E.164, or an alphanumeric sender ID.
_SENDER = re.compile(r"\+?[1-9]\d{5,14}|[A-Za-z0-9 ]{1,11}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


class SmsKind(StrEnum):
    """How the relay speaks to the SMS provider."""

    TWILIO = "twilio"  # Twilio's Messages API
    VONAGE = "vonage"  # Vonage's SMS API
    GATEWAY = "gateway"  # Outpost's own JSON contract, over http(s)://
    LOG = "log"  # `log:`: SMS written to the log


@dataclass(frozen=True)
class SmsProvider:
    """One SMS provider: `endpoint` is the gateway's URL, or the API's scheme://host[:port]."""

    kind: SmsKind
    endpoint: str
    # Twilio: the account SID and auth token; Vonage: the API key and secret.
    account: str | None = None
    secret: str | None = field(default=None, repr=False)
    sender: str | None = None
    messaging_service_sid: str | None = None


def checked_sms_url(value: str) -> str | None:
    """SMS_URL as given, once it parses; None when unset."""
    if not value:
        return None
    parse_sms_url(value)
    return value


@cache
def parse_sms_url(url: str) -> SmsProvider:
    """Read `twilio://SID:TOKEN@host?from=…`, `vonage://KEY:SECRET@host?from=…`, `http(s)://…`
    or `log:`; raise ValueError saying what is wanted, never echoing a credential."""
    if url == "log:":
        return SmsProvider(SmsKind.LOG, "")
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError("a host is required")
        _refuse_clear_text(parts.scheme, parts.hostname)
        return SmsProvider(SmsKind.GATEWAY, url)
    if parts.scheme not in ("twilio", "vonage"):
        raise ValueError(
            "must be twilio://, vonage://, an http(s):// gateway URL or log:, or unset to offer "
            "no SMS"
        )
    kind = SmsKind(parts.scheme)
    if not parts.hostname:
        raise ValueError(f"{kind}:// needs the API's host, e.g. {_EXAMPLE_HOST[kind]}")
    if not parts.username or not parts.password:
        raise ValueError(f"{kind}:// needs {_CREDENTIALS[kind]} before the host")
    query = _query(parts.query)
    allowed = {"from", "messaging_service_sid"} if kind is SmsKind.TWILIO else {"from"}
    unknown = set(query) - allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    sender, service = query.get("from"), query.get("messaging_service_sid")
    if (sender is None) == (service is None):
        wanted = "from=+E164 or messaging_service_sid=MG…" if allowed != {"from"} else "from=…"
        raise ValueError(f"{kind}:// needs {wanted}")
    if sender is not None and not _SENDER.fullmatch(sender):
        raise ValueError(f"from must be a number in E.164 or a sender ID, got {sender!r}")
    if service is not None and not _SERVICE_SID.fullmatch(service):
        raise ValueError("messaging_service_sid must be MG followed by 32 hex digits")
    scheme = "http" if loopback(parts.hostname) else "https"
    return SmsProvider(
        kind,
        f"{scheme}://{parts.netloc.rpartition('@')[2]}",
        account=unquote(parts.username),
        secret=unquote(parts.password),
        sender=sender,
        messaging_service_sid=service,
    )


_EXAMPLE_HOST = {SmsKind.TWILIO: "api.twilio.com", SmsKind.VONAGE: "rest.nexmo.com"}
_CREDENTIALS = {
    SmsKind.TWILIO: "ACCOUNT_SID:AUTH_TOKEN",
    SmsKind.VONAGE: "API_KEY:API_SECRET",
}


def _query(raw: str) -> dict[str, str]:
    """The query's parameters, a literal `+` kept as such (`from=+33…`), not read as a space."""
    return {k: v[-1] for k, v in parse_qs(raw.replace("+", "%2B")).items()}


def _refuse_clear_text(scheme: str, host: str) -> None:
    if scheme == "http" and not loopback(host):
        raise ValueError(
            f"http:// would send messages and codes in clear to {host}: use https:// "
            "(plain http:// is for a loopback host only)"
        )


def receipts_url(public_url: str, kind: SmsKind) -> str:
    """Where the provider is asked to post its delivery receipts under PUBLIC_URL: for Twilio,
    the exact URL its X-Twilio-Signature is computed, and verified, over."""
    return f"{public_url.rstrip('/')}/v1/provider-events/{kind}"


# The query parameter of the callback URL the relay gives Vonage that authenticates its DLRs.
RECEIPT_KEY = "key"


def receipt_key(secret_key: str) -> str:
    """What the callback URL given to Vonage carries to authenticate the DLRs posted to it.

    Vonage posts a DLR to the `callback` of each message as is, with no credentials of ours
    (a per-message callback overrides the dashboard's URL, and with it any Basic credentials
    set there): the URL itself must carry them. A subkey of SECRET_KEY for this use alone: it
    lets its holder post receipts about our Vonage account's messages, and nothing else.
    """
    return hmac.new(derive_key(secret_key, "outpost/vonage-receipts"), b"dlr", "sha256").hexdigest()


def vonage_callback(public_url: str, secret_key: str) -> str:
    """The callback URL the relay gives Vonage with each message."""
    return f"{receipts_url(public_url, SmsKind.VONAGE)}?{RECEIPT_KEY}={receipt_key(secret_key)}"


def providers_of(kind: SmsKind, *urls: str | None) -> list[SmsProvider]:
    """The providers of `kind` among these SMS URLs (SMS_URL, SMS_FALLBACK_URL)."""
    providers = [parse_sms_url(url) for url in urls if url]
    return [provider for provider in providers if provider.kind is kind]
