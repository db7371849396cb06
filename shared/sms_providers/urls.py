"""Reading an SMS provider's URL: the parts every spec's `parse` shares (an account's
credentials before the host, a query read as given, no clear text beyond loopback)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qs, unquote

from shared.settings.config_values import loopback

# A sender Twilio or Vonage accept: a number in E.164, or an alphanumeric sender ID.
_SENDER = re.compile(r"\+?[1-9]\d{5,14}|[A-Za-z0-9 ]{1,11}")


@dataclass(frozen=True)
class AccountUrl:
    """`scheme://ID:SECRET@host[:port]?…` read: where requests go, the account and the query."""

    endpoint: str
    account: str
    secret: str = field(repr=False)
    query: dict[str, str]


def read_account_url(
    parts: SplitResult, example_host: str, credentials: str, allowed: frozenset[str]
) -> AccountUrl:
    """The account URL of an API whose host, credentials (named `credentials` in errors) and
    query parameters among `allowed` it carries; ValueError never echoing a credential."""
    kind = parts.scheme
    if not parts.hostname:
        raise ValueError(f"{kind}:// needs the API's host, e.g. {example_host}")
    if not parts.username or not parts.password:
        raise ValueError(f"{kind}:// needs {credentials} before the host")
    _check_port(parts)
    query = _query(parts.query)
    unknown = set(query) - allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    scheme = "http" if loopback(parts.hostname) else "https"
    return AccountUrl(
        f"{scheme}://{parts.netloc.rpartition('@')[2]}",
        unquote(parts.username),
        unquote(parts.password),
        query,
    )


def checked_sender(sender: str | None) -> str | None:
    """`from` as given, once it is a number in E.164 or a sender ID."""
    if sender is not None and not _SENDER.fullmatch(sender):
        raise ValueError(f"from must be a number in E.164 or a sender ID, got {sender!r}")
    return sender


def _query(raw: str) -> dict[str, str]:
    """The query's parameters, a literal `+` kept as such (`from=+33…`), not read as a space."""
    return {k: v[-1] for k, v in parse_qs(raw.replace("+", "%2B")).items()}


def refuse_clear_text(parts: SplitResult) -> None:
    """A gateway URL is refused without a host or a working port, or over http:// unless its
    host is a loopback one."""
    if not parts.hostname:
        raise ValueError("a host is required")
    _check_port(parts)
    if parts.scheme == "http" and not loopback(parts.hostname):
        raise ValueError(
            f"http:// would send messages and codes in clear to {parts.hostname}: use https:// "
            "(plain http:// is for a loopback host only)"
        )


def _check_port(parts: SplitResult) -> None:
    """A port, when the URL names one, is a number from 1 to 65535, else every request would
    fail; never echoed, since a credential's unencoded `/` or `#` leaves a part of it there."""
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{parts.scheme}:// needs a port from 1 to 65535 after the host, or none")
