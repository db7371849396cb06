"""bench.suite_cpu charges each test its own CPU and that of the processes it waited for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from support import inner_pytest
from support.processes import ROOT

# One test spins 0.5 s of CPU itself, another has a child spin it, a third idles.
TESTS = """
import subprocess, sys, time

SPIN = "import time\\nstop = time.process_time() + 0.5\\nwhile time.process_time() < stop: pass"

def test_own():
    exec(SPIN)

def test_child():
    subprocess.run([sys.executable, "-c", SPIN], check=True)

def test_idle():
    time.sleep(0.2)
"""


def test_each_test_is_charged_its_own_cpu_and_its_childrens(tmp_path: Path) -> None:
    (tmp_path / "test_spins.py").write_text(TESTS)
    records = tmp_path / "records"
    # Not a worker of this run's: the inner run names its record as a run without xdist does.
    done = subprocess.run(
        inner_pytest.command("-p", "bench.suite_cpu", "-q", "test_spins.py"),
        cwd=tmp_path,
        env=inner_pytest.environment(SUITE_CPU_DIR=str(records)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = records.glob("main-*.jsonl")
    charged = {
        line["test"].split("::")[1]: (line["cpu"], line["children"], line["wall"])
        for line in map(json.loads, path.open())
    }
    own, children, _ = charged["test_own"]
    assert own >= 0.5 and children < 0.5, charged
    own, children, _ = charged["test_child"]
    assert children >= 0.5 and own < 0.5, charged
    own, children, wall = charged["test_idle"]
    assert wall >= 0.2 and own + children < 0.5, charged

    said = subprocess.run(
        [sys.executable, "-m", "bench.suite_cpu", str(records), "--top", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert said[1].startswith("3 tests: "), said
    span = r"  main-\d+: 3 tests from 0\.0 s to [\d.]+ s, \d+ s in tests"
    assert re.fullmatch(span, said[2]), said
    top = [line.split()[-1] for line in said[4:6]]
    assert set(top) == {"test_spins.py::test_own", "test_spins.py::test_child"}, said
    assert said[-1].startswith("command: ") and said[-1].endswith(
        "bench.suite_cpu " + str(records) + " --top 2"
    )
