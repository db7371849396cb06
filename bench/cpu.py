"""CPU time spent by each kind of process on the machine, or by a process tree, from /proc."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Process:
    """One process's parent, its own CPU ticks, those of the children it has waited for
    (cutime and cstime), and its command line."""

    parent: int
    ticks: int
    reaped: int
    command: str


def processes() -> dict[int, Process]:
    """Every process on the machine now, by id."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = _read(entry)
        except OSError:  # the process ended meanwhile
            continue
    return found


def process_ticks(pid: int) -> int:
    """CPU ticks process `pid` has used so far, user and system."""
    return _read(Path(f"/proc/{pid}")).ticks


def _read(entry: Path) -> Process:
    """The process whose /proc directory is `entry`."""
    stat = (entry / "stat").read_text()
    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    # Fields after the parenthesised name start at field 3 (state): ppid is field 4,
    # utime and stime 14 and 15, cutime and cstime 16 and 17.
    fields = stat.rsplit(")", 1)[1].split()
    return Process(
        parent=int(fields[1]),
        ticks=int(fields[11]) + int(fields[12]),
        reaped=int(fields[13]) + int(fields[14]),
        command=command,
    )


def cpu_ticks(*, own: bool = False) -> Counter[str]:
    """User and system CPU time each kind of process has used so far, in clock ticks
    (TICKS_PER_SECOND a second); this process is the load generator. With `own`, only this
    process and those it started: another run's relay on a shared machine is not this one's
    (the shared PostgreSQL server is left out too).

    A process that ends between two readings takes its time with it: the processes the benches
    compare (gunicorn workers, PostgreSQL backends, the relay) live through their loads.
    """
    table = processes()
    counted = _descendants(table, os.getpid()) if own else set(table)
    used: Counter[str] = Counter()
    for pid in counted:
        used[_kind(pid, table[pid].command)] += table[pid].ticks
    return used


def _descendants(table: dict[int, Process], root: int) -> set[int]:
    """`root` and every process below it in `table`."""
    found, tree = set(), [root]
    while tree:
        pid = tree.pop()
        found.add(pid)
        tree.extend(child for child, process in table.items() if process.parent == pid)
    return found


def tree_ticks(root: int) -> int:
    """CPU ticks used so far by process `root` and all its descendants, those that ended
    included: a child that ends leaves its time in its parent's cutime once reaped (as a
    PostgreSQL postmaster does with its backends, a gunicorn master with its workers)."""
    table = processes()
    return sum(table[pid].ticks + table[pid].reaped for pid in _descendants(table, root))


def _kind(pid: int, command: str) -> str:
    if pid == os.getpid():
        return "load generator"
    return next((kind for mark, kind in KINDS if mark in command), "other")
