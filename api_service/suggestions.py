"""Did-you-mean: the common mail domain an address's domain looks like a misspelling of.

Read from the string alone, never from whether an account exists: a taken address and a free one
get the same suggestion (docs/abuse.md, "Mistyped domains").
"""

from __future__ import annotations

from typing import Any

# The domains a mistyped one is corrected to: the largest mailbox providers, long enough that a
# domain one edit away is rarely a real one.
COMMON = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.fr",
    "outlook.com",
    "outlook.fr",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "protonmail.com",
    "wanadoo.fr",
    "laposte.net",
)
# Real domains one edit away from a common one, never corrected: `mail.com` and `email.com`
# (mail.com's) are not a mistyped `gmail.com`, nor `ymail.com` (Yahoo's own), nor `cloud.com`
# an `icloud.com`.
REAL = frozenset({"mail.com", "email.com", "ymail.com", "cloud.com"})


def suggestion(email: str) -> str | None:
    """`email` with its domain replaced by the one common domain it is a single edit (insert,
    delete, replace) or swap of two adjacent letters away from; None when it is common or real,
    or is near none, or near more than one (no guess)."""
    local, _, domain = email.rpartition("@")
    if not local or domain in COMMON or domain in REAL:
        return None
    near = [common for common in COMMON if _one_edit_away(domain, common)]
    return f"{local}@{near[0]}" if len(near) == 1 else None


def _one_edit_away(typed: str, meant: str) -> bool:
    """Whether `meant` is `typed` with one character inserted, deleted or replaced, or two
    adjacent characters swapped (`gmial` → `gmail`)."""
    if abs(len(typed) - len(meant)) > 1 or typed == meant:
        return False
    start = 0
    while start < min(len(typed), len(meant)) and typed[start] == meant[start]:
        start += 1
    typed_rest, meant_rest = typed[start:], meant[start:]
    if len(typed_rest) == len(meant_rest):
        swapped = typed_rest[1::-1] + typed_rest[2:]
        return typed_rest[1:] == meant_rest[1:] or swapped == meant_rest
    if len(typed_rest) > len(meant_rest):
        return typed_rest[1:] == meant_rest
    return typed_rest == meant_rest[1:]


def with_suggestion(answer: dict[str, Any], email: str | None) -> dict[str, Any]:
    """A registration's answer, with `suggestion` when its email looks mistyped."""
    suggested = suggestion(email) if email else None
    return {**answer, "suggestion": suggested} if suggested else answer
