"""The traces bench runs: its four stacks answer, send, and the one exporting is heard."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.processes import ROOT


# Its own bound: four stacks started in turn, 73 s beside the suite and past 120 s on a machine
# three times as loaded; the bench itself is bounded at 300 s below.
@pytest.mark.long
@pytest.mark.postgresql_only
@pytest.mark.timeout(360)
def test_the_tracing_bench_prints_its_four_stacks_and_the_spans_it_received() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.tracing", "--rounds", "1", "--each", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[3:7]] == ["off", "off,", "on", "sampled"]
    [received] = [line for line in lines if line.startswith("spans received:")]
    # Two registrations and their mails on the exporting stack, with the warm-up's three.
    assert int(received.split()[2]) >= 10
    assert "(outbox-relay, outpost-api)" in received
    assert lines[-1].startswith("command: ")
