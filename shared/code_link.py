"""CODE_LINK_URL filled for one mail: the one-click link beside its code."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from urllib.parse import quote

# Fills a link from a code, the address it went to and the message's purpose.
CodeLink = Callable[[str, str, str], str]


def filled(pattern: str, code: str, address: str, purpose: str) -> str:
    """`pattern` with `{code}`, `{address}` and `{purpose}` (`activation`, `password_reset`)
    percent-encoded in: nothing of them can end the fragment or add a parameter (`+` in an
    address included). One page can take both purposes: `{purpose}` tells it which."""
    for placeholder, value in (("{code}", code), ("{address}", address), ("{purpose}", purpose)):
        pattern = pattern.replace(placeholder, quote(value, safe=""))
    return pattern


def from_setting(pattern: str | None) -> CodeLink | None:
    """The filler of CODE_LINK_URL, None when it is unset (the code goes alone)."""
    return partial(filled, pattern) if pattern is not None else None
