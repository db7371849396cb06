"""Parsers of one configuration variable's value each, raising ValueError saying what is wanted."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Callable
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.settings.database_url import normalise_database_url
from shared.settings.mail_values import refuse_breaks

T = TypeVar("T")


KEY_RULE = (
    "at least 16 characters; use 32 or more random ones, e.g. "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def fallback_keys(value: str) -> tuple[str, ...]:
    """Older keys, comma-separated, newest first; each held to SECRET_KEY's rule."""
    if not value:
        return ()
    keys = tuple(key.strip() for key in value.split(","))
    for number, key in enumerate(keys, start=1):
        if len(key) < 16:
            raise ValueError(f"key {number} of {len(keys)}: {KEY_RULE}")
    return keys


def webhook_url(value: str) -> str | None:
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s):// URL")
    refuse_breaks(value)
    return value


def webhook_secret(value: str) -> bytes | None:
    if not value:
        return None
    prefix, _, encoded = value.partition("_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if prefix != "whsec" or len(key) < 16:
        raise ValueError("whsec_ followed by a base64 key of 16 bytes or more")
    return key


def pooler(value: str) -> str | None:
    if value in ("", "transaction"):
        return value or None
    raise ValueError(
        "transaction (DATABASE_URL goes through PgBouncer in transaction mode), or unset"
    )


def listen_url(value: str) -> str | None:
    return None if value == "none" else normalise_database_url(value)


def loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_token(least: int) -> Callable[[str], str | None]:
    """A token of at least `least` characters, or None when unset (what it guards is off)."""

    def parse(value: str) -> str | None:
        if value and len(value) < least:
            raise ValueError(
                f"at least {least} characters (e.g. `openssl rand -hex 32`), or unset to turn "
                "off what it guards"
            )
        return value or None

    return parse


def site_key(value: str) -> str | None:
    """A CAPTCHA widget's public site key: printed into a page's HTML attribute as it is."""
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", value):
        raise ValueError("letters, digits, `_`, `.` and `-` only, as the providers issue them")
    return value


def score(value: str) -> float:
    """A reCAPTCHA v3 score: 0.0 is surely a bot, 1.0 surely a human."""
    score = float(value)
    if not 0 <= score <= 1:
        raise ValueError(f"a score from 0.0 (a bot) to 1.0 (a human), got {value!r}")
    return score


def optional_positive(value: str) -> int | None:
    if not value:
        return None
    return positive(int)(value)


def rate(value: str) -> float | None:
    if not value:
        return None
    rate = float(value)
    if not 0 < rate <= 10000 or math.isnan(rate):
        raise ValueError(f"messages a second, more than 0 and at most 10000, got {value!r}")
    return rate


def positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(value: str) -> T:
        parsed = kind(value)
        if not parsed > 0:  # type: ignore[operator]
            raise ValueError(f"must be positive, got {value!r}")
        return parsed

    return parse


# A request may run two transactions (its client's limit, then its writes) plus the hash, all
# within gunicorn's 30 s worker timeout (outpost/gunicorn_conf.py).
MAX_DATABASE_TIMEOUT = 10.0


def database_timeout(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= MAX_DATABASE_TIMEOUT:
        raise ValueError(
            f"seconds, more than 0 and at most {MAX_DATABASE_TIMEOUT:g} (a request must end "
            f"within gunicorn's 30 s worker timeout), got {value!r}"
        )
    return seconds


def count(value: str) -> int:
    count = int(value)
    if count < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return count


def niceness(value: str) -> int:
    nice = int(value)
    if not 0 <= nice <= 19:
        raise ValueError(f"must be 0 to 19, got {value!r}")
    return nice


def port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"not a port: {value!r}")
    return port


def host(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise ValueError("must be a host name or an IP address to listen on")
    return value


def ec_public_key(value: str) -> str | None:
    """An ECDSA P-256 public key as SendGrid shows its verification key (base64 of the DER
    SubjectPublicKeyInfo, PEM's armour allowed), or None when unset."""
    if not value:
        return None
    body = "".join(line for line in value.splitlines() if not line.startswith("-----"))
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the base64 of an ECDSA P-256 public key, as SendGrid shows it")
    return body
