"""CODE_LINK_URL: the setting checked at start, and filled for one mail (the one-click link
beside its code)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from urllib.parse import quote

from shared.settings.mail_values import web_url
from shared.vocabulary import Purpose

# Fills a link from a code, its link token (None: the code has none), the address it went to
# and the message's purpose; None when the link needs a token the code has not.
CodeLink = Callable[[str, str | None, str, str], str | None]
# The placeholders a link may hold; it needs the code or its token.
PLACEHOLDERS = ("{code}", "{token}", "{address}", "{purpose}")


def filled(
    pattern: str, code: str, token: str | None, address: str, purpose: Purpose
) -> str | None:
    """`pattern` with `{code}`, `{token}`, `{address}` and `{purpose}` (`activation`,
    `password_reset`, `address_change`, `login_code`) percent-encoded in: nothing of them can
    end the fragment or add a parameter (`+` in an address included). One page can take every
    purpose: `{purpose}` tells it which. None for a code without a token (one written before
    the link asked for it) when the link carries `{token}`."""
    if token is None and carries_token(pattern):
        return None
    values = {"{code}": code, "{token}": token or "", "{address}": address, "{purpose}": purpose}
    for placeholder, value in values.items():
        pattern = pattern.replace(placeholder, quote(value, safe=""))
    return pattern


def carries_token(pattern: str | None) -> bool:
    """Whether the link carries a code's link token: its codes then get one."""
    return pattern is not None and "{token}" in pattern


def from_setting(pattern: str | None) -> CodeLink | None:
    """The filler of CODE_LINK_URL, None when it is unset (the code goes alone)."""
    return partial(filled, pattern) if pattern is not None else None


def parse(value: str) -> str | None:
    """An http(s) URL with `{code}` or `{token}`, and if it likes `{address}` and `{purpose}`,
    no other placeholder."""
    url = web_url("CODE_LINK_URL")(value)
    if url is None:
        return None
    if "{code}" not in url and "{token}" not in url:
        raise ValueError(f"a URL with a {{code}} or {{token}} placeholder, got {value!r}")
    rest = url
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise ValueError(
            f"only {{code}}, {{token}}, {{address}} and {{purpose}} are filled in, got {value!r}"
        )
    return url
