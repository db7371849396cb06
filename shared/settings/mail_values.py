"""Parsers of the mail and branding variables (MAIL_FROM, PRODUCT_NAME, the URLs templates
link to, TEMPLATES_DIR): values written into headers and templates as they are."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from shared.accounts.addresses import Sender, sender_address
from shared.reports.bounce_tokens import TOKEN_LENGTH as BOUNCE_TOKEN_LENGTH
from shared.text import is_text

# MAIL_FROM with a display name, maybe in quotes, before the address in angle brackets.
_NAMED_ADDRESS = re.compile(r'(?:"(?P<quoted>[^"]*)"\s*|(?P<name>[^<>"]*))<(?P<address>[^<>]*)>')

_PLAIN_NAME = "1 to 60 printable characters, without <, > or quotes"


def refuse_breaks(value: str) -> None:
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


def bounce_address(value: str) -> str:
    """BOUNCE_ADDRESS: an address whose local part takes a `+TOKEN` extension (VERP)."""
    address = sender_address(value.strip())
    local = address.rpartition("@")[0]
    if "+" in local or len(local) > 64 - 1 - BOUNCE_TOKEN_LENGTH:
        raise ValueError(
            f"a local part without `+` and of at most {63 - BOUNCE_TOKEN_LENGTH} characters, "
            f"got {address!r}"
        )
    return address


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
        refuse_breaks(value)
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
