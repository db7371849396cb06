"""`outbox-relay` commands run as a named OS user, and their results checked: as real processes
(`start`, `cli`, `cli_all`), or in the test's own process (`here`, `here_all`, support.in_process)
when the process itself is not what a test is about; either command there with its environment
alone, as a unit starts it (`outpost`, `relay`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from outbox_relay.cli import main
from outpost.cli import main as outpost_main
from support import in_process

OS_USER = "opal"

Run = subprocess.CompletedProcess[str]


def as_os_user(env: dict[str, str]) -> dict[str, str]:
    """`env`, with the OS user OS_USER."""
    return {**env, "USER": OS_USER, "LOGNAME": OS_USER}


def start(env: dict[str, str], cwd: Path, args: tuple[str, ...]) -> subprocess.Popen[str]:
    """`outbox-relay ARGS…` as its own process, as the OS user OS_USER."""
    return subprocess.Popen(
        [sys.executable, "-m", "outbox_relay.cli", *args],
        env={**os.environ, **as_os_user(env)},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Run:
    """Wait for a started command; what it printed and its exit code."""
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def cli(env: dict[str, str], cwd: Path, *args: str) -> Run:
    """Run one command to its end."""
    return finish(start(env, cwd, args))


def cli_all(env: dict[str, str], cwd: Path, *commands: tuple[str, ...]) -> list[Run]:
    """Run several commands at once; their results in order."""
    started = [start(env, cwd, args) for args in commands]
    return [finish(process) for process in started]


def here(env: dict[str, str], cwd: Path, *args: str) -> Run:
    """Run one command to its end in this process, as `cli` runs it in its own."""
    return in_process.run(main, "outbox-relay", args, as_os_user(env), cwd)


def here_all(env: dict[str, str], cwd: Path, *commands: tuple[str, ...]) -> list[Run]:
    """Run several commands in this process, one after the other; their results in order."""
    return [here(env, cwd, *args) for args in commands]


def outpost(env: Mapping[str, str], cwd: Path, *args: str) -> Run:
    """`outpost ARGS…` with `env` alone for its environment, as `subprocess.run(env=…)` starts
    it, run to its end in this process."""
    return in_process.run(outpost_main, "outpost", args, env, cwd, alone=True)


def relay(env: Mapping[str, str], cwd: Path, *args: str) -> Run:
    """`outbox-relay ARGS…` with `env` alone for its environment, as `outpost` runs its own."""
    return in_process.run(main, "outbox-relay", args, env, cwd, alone=True)


def ok(run: Run) -> Run:
    """The run, after checking it exited 0."""
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def as_json(run: Run) -> Any:
    """What a `--json` run printed, parsed."""
    return json.loads(ok(run).stdout)
