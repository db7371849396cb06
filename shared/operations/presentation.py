"""How the operator faces write times and ages, the command line and the dashboard alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_time(value: datetime | None, *, suffix: str = "", missing: str = "-") -> str:
    """A time as `YYYY-MM-DD HH:MM:SS` in UTC, then `suffix`; `missing` when there is none."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + suffix if value else missing


def compact_age(seconds: float) -> str:
    """An age as its two largest units, as a terminal table shows it: `3d 4h`, `12m 5s`."""
    if seconds < 1:
        return "none due" if seconds == 0 else f"{seconds:.1f}s"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return " ".join([f"{n}{unit}" for n, unit in parts if n][:2])


def spelled_age(seconds: float) -> str:
    """An age in words, as a page shows it: `45 s`, `12 min 5 s`, `27 h 3 min`."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
