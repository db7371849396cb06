"""CPU time spent by each kind of process on the machine, read from /proc."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# The first kind whose mark appears in a process's command line names it.
KINDS = (
    ("gunicorn", "gunicorn"),
    ("outbox_relay", "relay"),
    ("postgres", "PostgreSQL"),
    ("slow_sink", "SMTP server"),
    ("smtp_server", "SMTP server"),
    ("aiosmtpd", "SMTP server"),
)


def cpu_ticks() -> Counter[str]:
    """User and system CPU time each kind of process has used so far, in clock ticks
    (TICKS_PER_SECOND a second); this process is the load generator.

    A process that ends between two readings takes its time with it: the processes the benches
    compare (gunicorn workers, PostgreSQL backends, the relay) live through their loads.
    """
    used: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        # Fields after the parenthesised name start at field 3; utime and stime are 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        used[_kind(int(entry.name), command)] += ticks
    return used


def _kind(pid: int, command: str) -> str:
    if pid == os.getpid():
        return "load generator"
    return next((kind for mark, kind in KINDS if mark in command), "other")
