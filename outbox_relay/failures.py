"""Transient vs permanent delivery failures, decided in this one place."""

from __future__ import annotations

import smtplib


class DeliveryFailure(Exception):
    """A delivery attempt failed; `permanent` says whether trying again can help."""

    permanent: bool = False

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class TransientFailure(DeliveryFailure):
    """Try again later: 4xx, timeouts, dropped connections."""


class PermanentFailure(DeliveryFailure):
    """Never try again: the provider refused the message for good."""

    permanent = True


def from_smtp_error(exc: Exception) -> DeliveryFailure:
    """Classify an smtplib or socket error by its SMTP reply code: 5xx permanent, else transient."""
    code: int | None = None
    message = ""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, raw = next(iter(exc.recipients.values()))
        message = _text(raw)
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, message = exc.smtp_code, _text(exc.smtp_error)
    if code is None:
        return TransientFailure(f"{type(exc).__name__}: {exc}"[:500])
    description = f"SMTP {code} {message}".strip()[:500]
    return PermanentFailure(description) if 500 <= code <= 599 else TransientFailure(description)


def from_http_status(status: int, reason: str) -> DeliveryFailure | None:
    """Classify a gateway answer: None for 2xx; 408, 429 and 5xx transient; other 4xx permanent."""
    if 200 <= status <= 299:
        return None
    description = f"HTTP {status} {reason}".strip()[:500]
    if status in (408, 429) or status >= 500:
        return TransientFailure(description)
    return PermanentFailure(description)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
