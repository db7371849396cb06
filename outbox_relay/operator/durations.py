"""Spans of time as operators type them: 90s, 30m, 24h, 7d, 2w."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def span_of(value: str) -> timedelta | None:
    """The span `value` says (90s, 30m, 24h, 7d, 2w); None if it is none."""
    match = _DURATION.match(value)
    if match is None:
        return None
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})
