"""SMTP_URL and SMTP_FALLBACK_URL: where and how to reach an SMTP provider, checked once."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from shared.settings.config_values import loopback


class StartTls(StrEnum):
    """Whether a session upgrades with STARTTLS before AUTH and MAIL FROM."""

    REQUIRED = "required"  # a server that does not offer it is the provider's failure
    IF_OFFERED = "if_offered"
    OFF = "off"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach one SMTP provider."""

    host: str
    port: int
    implicit_tls: bool
    # OFF under implicit TLS, which is TLS from the first byte.
    starttls: StartTls
    username: str | None
    password: str | None = field(repr=False)
    timeout: float


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse `smtp://[user:pass@]host[:port][?starttls=true|false&timeout=S]` or `smtps://…`.

    Credentials never travel in clear: with a user, STARTTLS is required unless the session is
    TLS from the start (smtps://, port 465); turning it off is for a loopback server only.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"scheme must be smtp or smtps, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("a host is required")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    asked = query.get("starttls", "").lower()
    if asked not in ("", "true", "false", "1", "0"):
        raise ValueError("starttls must be true or false")
    timeout = float(query.get("timeout", "30"))
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    implicit = parts.scheme == "smtps" or port == 465
    username = unquote(parts.username) if parts.username else None
    if implicit:
        starttls = StartTls.OFF
    elif asked in ("true", "1") or (asked == "" and username is not None):
        starttls = StartTls.REQUIRED
    elif asked == "":
        starttls = StartTls.IF_OFFERED
    elif username is not None and not loopback(parts.hostname):
        raise ValueError(
            f"starttls=false would send the password in clear to {parts.hostname}: "
            "use STARTTLS or smtps:// (starttls=false with a user is for a loopback host only)"
        )
    else:
        starttls = StartTls.OFF
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit,
        starttls=starttls,
        username=username,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
    )
