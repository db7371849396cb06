"""CODE_LINK_URL: the setting checked at start, and filled for one mail (the one-click link
beside its code)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from urllib.parse import quote

from shared.settings.mail_values import web_url

# Fills a link from a code, the address it went to and the message's purpose.
CodeLink = Callable[[str, str, str], str]


def filled(pattern: str, code: str, address: str, purpose: str) -> str:
    """`pattern` with `{code}`, `{address}` and `{purpose}` (`activation`, `password_reset`,
    `address_change`, `login_code`) percent-encoded in: nothing of them can end the fragment
    or add a parameter (`+` in an address included). One page can take every purpose:
    `{purpose}` tells it which."""
    for placeholder, value in (("{code}", code), ("{address}", address), ("{purpose}", purpose)):
        pattern = pattern.replace(placeholder, quote(value, safe=""))
    return pattern


def from_setting(pattern: str | None) -> CodeLink | None:
    """The filler of CODE_LINK_URL, None when it is unset (the code goes alone)."""
    return partial(filled, pattern) if pattern is not None else None


def parse(value: str) -> str | None:
    """An http(s) URL with `{code}`, and if it likes `{address}` and `{purpose}`, no other
    placeholder."""
    url = web_url("CODE_LINK_URL")(value)
    if url is None:
        return None
    if "{code}" not in url:
        raise ValueError(f"a URL with a {{code}} placeholder, got {value!r}")
    rest = url
    for placeholder in ("{code}", "{address}", "{purpose}"):
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise ValueError(f"only {{code}}, {{address}} and {{purpose}} are filled in, got {value!r}")
    return url
