"""Free TCP ports for the servers the tests start, never given to two tests of any run.

Ports come from below the kernel's ephemeral range (32768 and up on Linux), which it draws from
for every bind to port 0 and every outgoing connection, so a port taken here is never handed to
anyone else meanwhile. Each process that asks for ports (a test worker, a run without xdist)
holds a slice of its own for its life, claimed with a lock every run on the machine sees, so that
neither two workers nor two runs side by side ever race for one port (two runs, each worker a
slice by its number, once met: a relay's metrics port answered with the other run's SMTP
greeting). A port in use is skipped.
"""

from __future__ import annotations

import fcntl
import functools
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

FIRST_PORT, SLICE, SLICES = 10000, 1000, 22
# /tmp itself, never TMPDIR: a test that gives its child process a TMPDIR of its own (the orphaned
# servers' test) would otherwise give it a second set of locks, and a slice a worker holds.
LOCKS = Path("/tmp/outpost-test-ports")


@dataclass
class _Slice:
    """This process's slice: its first port, the next to try, and the lock that holds it."""

    low: int
    next: int
    held: IO[str]


_lock = threading.Lock()


@functools.cache
def _claim() -> _Slice:
    """The first slice no other process holds, held until this one ends (claimed once)."""
    LOCKS.mkdir(mode=0o1777, exist_ok=True)
    for index in range(SLICES):
        held = (LOCKS / f"slice-{index}").open("a")
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.close()
            continue
        low = FIRST_PORT + index * SLICE
        return _Slice(low, low + random.randrange(SLICE), held)
    raise RuntimeError(f"all {SLICES} slices of test ports are held by other processes")


def free_port() -> int:
    """A TCP port nobody listens on right now, and that no other test of any run is given."""
    for _ in range(SLICE):
        with _lock:
            mine = _claim()
            port = mine.next
            mine.next = mine.low + (port + 1 - mine.low) % SLICE
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {mine.low}-{mine.low + SLICE - 1}")
