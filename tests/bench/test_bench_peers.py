"""bench/peers.py at a tiny size: every contestant's mail arrives exactly once; without the
`bench` extra (part of `dev`) it says so in one line and fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.peers import EXTRA
from support.processes import ROOT


@pytest.mark.postgresql_only
# 23 s on two quiet cores, past 100 s beside two CPU burners and the rest of the suite: the
# bounds guard against a hang, not a slow machine.
@pytest.mark.timeout(330)
def test_each_contestant_delivers_every_message_exactly_once() -> None:
    command = ["--messages", "20", "--rate", "20", "--seconds", "1", "--rounds", "1"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.peers", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    turns = [line.strip() for line in run.stdout.splitlines() if line.startswith("  ")]
    names = [line.split(":")[0] for line in turns]
    assert names == ["bare smtplib loop", "Outpost (outbox-relay run)", "PgQueuer", "procrastinate"]
    assert all(line.endswith("; exactly once") for line in turns), turns
    assert all("commit → receipt p50" in line for line in turns[1:]), turns


def test_without_the_extra_it_says_so_and_fails() -> None:
    # A None entry in sys.modules makes a library unfindable, as if not installed.
    hide = "".join(f"sys.modules[{name!r}] = None; " for name in EXTRA)
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import runpy, sys; {hide}runpy.run_module('bench.peers', run_name='__main__')",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "bench.peers needs the bench extra: pgqueuer, asyncpg, procrastinate not installed "
        "(pip install -e '.[dev]')"
    ]
