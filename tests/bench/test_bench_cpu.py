"""The benches' CPU accounting charges each process's CPU time to its kind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.cpu import TICKS_PER_SECOND, cpu_ticks

# The machine's CPU, by kind of process: another test's processes ending meanwhile would take
# theirs out of the count.
pytestmark = pytest.mark.alone

# Spins for 0.5 s of CPU, then idles; the argument after the program marks its command line.
SPIN = "import time\nstop = time.process_time() + 0.5\nwhile time.process_time() < stop: pass\n"


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
    spinner = subprocess.Popen([sys.executable, "-c", SPIN + "time.sleep(60)", "gunicorn"])
    try:
        time.sleep(1.5)
        used = cpu_ticks(own=True) - before
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.45 <= used["gunicorn"] / TICKS_PER_SECOND <= 1.0


def test_own_ticks_leave_out_another_runs_processes() -> None:
    """A spinner this process did not start (here, one a shell started and left) is another
    run's: counted on the machine, not among this run's own."""
    before, own_before = cpu_ticks(), cpu_ticks(own=True)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN + "time.sleep(60)", "outbox_relay"])
    left = f'"{sys.executable}" -c "$0" outbox_relay >/dev/null 2>&1 & echo $!'
    stranger = subprocess.run(
        ["sh", "-c", left, SPIN + "time.sleep(60)"],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        time.sleep(3)
        used, own = cpu_ticks() - before, cpu_ticks(own=True) - own_before
    finally:
        for pid in (spinner.pid, int(stranger.stdout)):
            os.kill(pid, signal.SIGKILL)
        spinner.wait()
    assert used["relay"] / TICKS_PER_SECOND >= 0.9  # other runs on the machine only add to it
    assert 0.45 <= own["relay"] / TICKS_PER_SECOND <= 0.75
