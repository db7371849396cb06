"""A test run that is itself killed (CI's timeout, an operator's `kill`) leaves none of the
servers its tests started running: they are in sessions of their own, out of reach of a
signal to the run's process group, so each is tied to the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support import inner_pytest
from support.leftovers import alive

INNER = """
import os
import sys
import time
from pathlib import Path

from support import processes


def test_a_server_then_a_long_wait(tmp_path):
    server = processes.start(
        [sys.executable, "-c", "import time; time.sleep(600)"], {}, tmp_path, tmp_path / "log"
    )
    Path(os.environ["SERVER_PID_FILE"]).write_text(str(server.pid))
    time.sleep(600)
"""


def _until(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s")
        time.sleep(0.1)


@pytest.mark.long
@pytest.mark.parametrize("workers", ["0", "2"], ids=["one-process", "xdist"])
def test_a_run_killed_with_sigterm_leaves_no_server_behind(tmp_path: Path, workers: str) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    pid_file = tmp_path / "server.pid"
    env = inner_pytest.environment(SERVER_PID_FILE=str(pid_file))
    command = inner_pytest.command("-q", "-n", workers, "test_inner.py")
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    server = None
    try:
        # Started by the run's test: however long a loaded machine takes to get there.
        _until(lambda: pid_file.exists() and pid_file.read_text(), 300, "server started")
        server = int(pid_file.read_text())
        assert alive(server)
        run.send_signal(signal.SIGTERM)
        run.wait(120)
        _until(lambda: not alive(server), 60, "end of the server")
    finally:
        run.kill()
        if server is not None and alive(server):
            os.kill(server, signal.SIGKILL)
