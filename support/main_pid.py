"""Following a unit's main process when it hands over to another (gunicorn's reload: SIGUSR2,
then the new arbiter's `MAINPID=`), as systemd does: the test's process becomes the new
arbiter's parent for that moment (a child subreaper, as systemd is), so that it can signal it
and read its exit code like any child's."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

PR_SET_CHILD_SUBREAPER = 36


class Running(Protocol):
    """What a test does with a process it started or adopted."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class Adopted:
    """A process reparented to this one: waited for with waitpid, as a child started here."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@contextmanager
def subreaper() -> Iterator[None]:
    """This process adopts the orphans of its descendants while the block runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def handed_over(old: Running, sig: int, notify: socket.socket, timeout: float) -> Adopted:
    """`sig` to `old`; the process that says `MAINPID=` and `READY=1` on `notify`, once `old`
    has exited 0 and left it to this process."""
    with subreaper():
        old.send_signal(sig)
        said: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while not ("MAINPID" in said and said.get("READY") == "1"):
            assert time.monotonic() < deadline, f"no new main process after {timeout}s: {said}"
            notify.settimeout(1)
            try:
                message = notify.recv(4096).decode()
            except TimeoutError:
                continue
            for line in message.splitlines():
                key, _, value = line.partition("=")
                said[key] = value
        assert old.wait(timeout) == 0, "the replaced arbiter did not exit 0"
    return Adopted(int(said["MAINPID"]))
