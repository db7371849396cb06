"""Parsers of what ends an SMS carrying a code (WEBOTP_DOMAIN, SMS_APP_HASH)."""

from __future__ import annotations

import re

# A host name's labels as WebOTP writes them (Chrome reads `[a-zA-Z0-9.-]+`): no scheme, port or
# path, each label 63 characters at most, neither starting nor ending with a hyphen.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Android's app hash: the first 11 characters of a base64 digest.
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")


def webotp_domain(value: str) -> str | None:
    """The host name of the page that reads the code, in lower case; None when unset."""
    if not value:
        return None
    host = value.lower()
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(
            f"the host name of the page reading the code, such as app.example.com (no scheme, "
            f"port or path), got {value!r}"
        )
    return host


def app_hash(value: str) -> str | None:
    """Android's 11-character SMS Retriever hash of the app; None when unset."""
    if not value:
        return None
    if not _APP_HASH.fullmatch(value):
        raise ValueError(
            f"Android's 11-character app hash (letters, digits, + and /), got {len(value)} "
            f"characters: {value!r}"
        )
    return value
