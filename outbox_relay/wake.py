"""What the daemon's loop sleeps on: a wake-up from any thread, or a socket it names readable."""

from __future__ import annotations

import contextlib
import math
import select
import socket


class Wake:
    """Set from any thread (a stop, a provider back); the loop also names a socket to wake on,
    PostgreSQL's LISTEN connection, so that a NOTIFY wakes the loop with no thread between:
    handing each one over from a thread of its own cost the relay CPU on every message
    (docs/decisions/0012-one-relay-listens.md)."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def set(self) -> None:
        """Wake the loop now, or at its next wait if it is not waiting."""
        # Full, the pair already holds wake-ups enough: one more adds nothing.
        with contextlib.suppress(BlockingIOError):
            self._writer.send(b"\0")

    def wait(self, timeout: float, also: int | None = None) -> bool:
        """Sleep until set, `also` (a file descriptor) is readable, or `timeout` seconds pass;
        whether woken before the timeout. Wake-ups set before this wait are spent by it."""
        # poll, not select: a relay with many sessions open may hold descriptors past 1024.
        watched = select.poll()
        watched.register(self._reader, select.POLLIN)
        if also is not None:
            watched.register(also, select.POLLIN)
        ready = watched.poll(math.ceil(max(timeout, 0.0) * 1000))
        if any(fd == self._reader.fileno() for fd, _ in ready):
            with contextlib.suppress(BlockingIOError):
                while self._reader.recv(4096):
                    pass
        return bool(ready)

    def close(self) -> None:
        """Close the socket pair."""
        self._reader.close()
        self._writer.close()
