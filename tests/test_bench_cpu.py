"""The benches' CPU accounting charges each process's CPU time to its kind."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu import TICKS_PER_SECOND, cpu_ticks

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
    before = cpu_ticks()
    spinner = subprocess.Popen([sys.executable, "-c", SPIN + "time.sleep(60)", "gunicorn"])
    try:
        time.sleep(1.5)
        used = cpu_ticks() - before
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.45 <= used["gunicorn"] / TICKS_PER_SECOND <= 1.0
