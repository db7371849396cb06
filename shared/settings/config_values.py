"""Parsers of one configuration variable's value each, raising ValueError saying what is wanted."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import phonenumbers

from shared.addresses import Sender, sender_address
from shared.settings.database_url import normalise_database_url
from shared.text import is_text

T = TypeVar("T")

# MAIL_FROM with a display name, maybe in quotes, before the address in angle brackets.
_NAMED_ADDRESS = re.compile(r'(?:"(?P<quoted>[^"]*)"\s*|(?P<name>[^<>"]*))<(?P<address>[^<>]*)>')


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
    _refuse_breaks(value)
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


_PLAIN_NAME = "1 to 60 printable characters, without <, > or quotes"


def _refuse_breaks(value: str) -> None:
    """Refuse what would break a line where the value is written (a template, a header): CR,
    LF, U+2028 and U+2029 among the controls, and spaces, which no URL holds."""
    if not is_text(value) or any(c.isspace() for c in value):
        raise ValueError(f"a URL without spaces or control characters, got {value!r}")


def _plain_name(value: str) -> bool:
    """Whether `value` is a name every template and From header can carry as it is."""
    return (
        bool(value.strip())
        and len(value) <= 60
        and all(c.isprintable() and c not in '<>"' for c in value)
    )


def mail_from(value: str) -> Sender:
    named = _NAMED_ADDRESS.fullmatch(value.strip())
    if named is None:
        return Sender(name="", address=sender_address(value.strip()))
    # Spaces stripped before it is checked: `Name <address>` puts one after the name.
    name = (named["name"] if named["quoted"] is None else named["quoted"]).strip(" ")
    if name and not _plain_name(name):
        raise ValueError(f"the display name must be {_PLAIN_NAME}, got {name!r}")
    return Sender(name=name, address=sender_address(named["address"]))


def product_name(value: str) -> str:
    if not _plain_name(value):
        raise ValueError(f"a name of {_PLAIN_NAME}")
    return value.strip()


def web_url(name: str) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or '"' in value:
            raise ValueError(f"an http(s):// URL for {name}, got {value!r}")
        _refuse_breaks(value)
        return value

    return parse


def support_email(value: str) -> str | None:
    if not value:
        return None
    if value.count("@") != 1 or any(c.isspace() or c in '<>"' for c in value):
        raise ValueError(f"an email address, got {value!r}")
    return value


def directory(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"not a directory: {value}")
    return path.resolve()


def region(value: str) -> str | None:
    if not value:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not an ISO 3166 alpha-2 region phone numbers know: {value!r}")
    return value.upper()


def regions(value: str) -> frozenset[str] | None:
    if not value:
        return None
    named = {part.strip().upper() for part in value.split(",")} - {""}
    unknown = sorted(named - phonenumbers.SUPPORTED_REGIONS)
    if unknown or not named:
        raise ValueError(
            "ISO 3166 alpha-2 regions phone numbers know, separated by commas (e.g. CM,FR), "
            f"not {', '.join(unknown) or repr(value)}"
        )
    return frozenset(named)


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


# SMS_ALLOWED_REGIONS's word for every region of the world: allowed, never by default.
EVERY_REGION = "*"


def allowed_regions(
    default_region: str | None, real_provider: bool
) -> Callable[[str], frozenset[str] | None]:
    """SMS_ALLOWED_REGIONS: the regions named, PHONE_DEFAULT_REGION's by default, None for `*`
    (every region). With a real SMS provider and neither, there is no default: SMS to every
    country of the world is never one (SMS pumping bills the sender per message)."""

    def parse(value: str) -> frozenset[str] | None:
        if value.strip() == EVERY_REGION:
            return None
        if value:
            return regions(value)
        if default_region is not None:
            return frozenset({default_region})
        if real_provider:
            raise ValueError(
                "required with a real SMS provider, since SMS to every country of the world is "
                "never a default: the regions numbers may belong to (e.g. CM,FR), or * for "
                "every region"
            )
        return None

    return parse


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
