"""What a killed test process leaves running: the tests that kill one start its servers from a
child Python process, kill it, and look for its servers by pid and through /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from support.processes import ROOT

# However long a loaded machine takes to start the child's servers.
STARTING = 300
# How long its servers may take to end once it is killed.
ENDING = 60


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: it is gone but for its exit status)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def running_from(base: Path) -> dict[int, str]:
    """Every live process whose working directory or command line is in `base`: its command."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue  # gone, or a zombie: its working directory is no more
        if str(base) in command or cwd == str(base) or cwd.startswith(f"{base}/"):
            found[int(entry.name)] = command
    return found


def kill(pids: Iterable[int]) -> None:
    """SIGKILL each process, stopped or not."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def after_a_killed_child(
    code: str, base: Path, log: Path, env: Mapping[str, str]
) -> tuple[dict[int, str], dict[int, str]]:
    """Run `code` in a child Python process (with `env` over this one's; argv[1] a file to
    write once its servers run), SIGKILL it then: what ran from `base` just before, and what
    still runs from it or by those pids ENDING seconds after (at once, if nothing does)."""
    started = log.with_suffix(".started")
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(started)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + STARTING
        while not started.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the child's servers did not start:\n{log.read_text()[-5000:]}"
                )
            time.sleep(0.2)
        before = running_from(base)
        child.kill()
        child.wait(30)
        deadline = time.monotonic() + ENDING
        while True:
            left = running_from(base)
            left.update({pid: before[pid] for pid in before if alive(pid)})
            if not left or time.monotonic() > deadline:
                return before, left
            time.sleep(0.2)
    finally:
        child.kill()
        child.wait(30)
