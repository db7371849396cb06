"""The benches' CPU accounting charges each process's CPU time to its kind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cpu import TICKS_PER_SECOND, cpu_ticks

# Spins for 0.5 s of CPU, says so, then idles; the argument after the program marks its command
# line. Waiting for its word rather than for some seconds: beside other load it spins longer.
SPIN = (
    "import time\nstop = time.process_time() + 0.5\nwhile time.process_time() < stop: pass\n"
    "print('spun', flush=True)\ntime.sleep(60)\n"
)


def spinner(mark: str) -> subprocess.Popen[str]:
    """A process spinning as SPIN does, its command line marked `mark`."""
    return subprocess.Popen([sys.executable, "-c", SPIN, mark], stdout=subprocess.PIPE, text=True)


def spun(process: subprocess.Popen[str]) -> None:
    """Until `process` has spun its 0.5 s."""
    assert process.stdout is not None
    assert process.stdout.readline() == "spun\n"


def test_the_benchs_own_cpu_is_the_load_generators() -> None:
    before = cpu_ticks()
    stop = time.process_time() + 0.5
    while time.process_time() < stop:
        pass
    used = cpu_ticks() - before
    assert 0.45 <= used["load generator"] / TICKS_PER_SECOND <= 1.0


def test_a_process_is_charged_to_the_kind_its_command_line_names() -> None:
    # This run's own: another helper's gunicorn on the machine would count too.
    before = cpu_ticks(own=True)
    spinning = spinner("gunicorn")
    try:
        spun(spinning)
        used = cpu_ticks(own=True) - before
    finally:
        spinning.kill()
        spinning.wait()
    assert 0.45 <= used["gunicorn"] / TICKS_PER_SECOND <= 1.0


# The machine's CPU, by kind of process: another test's processes ending meanwhile would take
# theirs out of the count (a neighbour's relay did: 0.68 s of 1.0), so no neighbour either. The
# tests above read this process's own ticks and its children's, which no other test touches.
@pytest.mark.alone(neighbour=False)
def test_own_ticks_leave_out_another_runs_processes(tmp_path: Path) -> None:
    """A spinner this process did not start (here, one a shell started and left) is another
    run's: counted on the machine, not among this run's own."""
    spinning = spinner("outbox_relay")
    said = tmp_path / "stranger.out"
    left = f'"{sys.executable}" -c "$0" outbox_relay >"$1" 2>/dev/null & echo $!'
    stranger = subprocess.run(
        ["sh", "-c", left, SPIN, str(said)], capture_output=True, text=True, check=True
    )
    try:
        spun(spinning)
        while "spun" not in said.read_text():
            time.sleep(0.05)
        machine, own = cpu_ticks(), cpu_ticks(own=True)
    finally:
        for pid in (spinning.pid, int(stranger.stdout)):
            os.kill(pid, signal.SIGKILL)
        spinning.wait()
    # One reading each, no difference: another run's relay ending between two readings took
    # its ticks out of the machine's (a second suite beside this one: 0 s counted of 1.0); in
    # one reading, other runs' processes only add.
    assert (machine["relay"] - own["relay"]) / TICKS_PER_SECOND >= 0.45
    assert 0.45 <= own["relay"] / TICKS_PER_SECOND <= 0.75
