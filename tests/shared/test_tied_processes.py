"""A server started through support.processes.tied ends with the process that started it, even
killed outright (SIGKILL): the kernel signals it, or, for a server that changes its own user
and so loses that signal, its keeper (support/keeper.py) does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import leftovers

# The child: one server tied to it, then a wait to be killed in, once the server is under way.
CHILD = """
import os
import sys
import time
from pathlib import Path

from support import processes

base = Path(os.environ["SCRATCH"])
ready = base / "ready"
code = os.environ["SERVER"] + "; open(sys.argv[1], 'w').close(); time.sleep(600)"
processes.tied(
    [sys.executable, "-c", code, ready], base, base / "server.log", kept="KEPT" in os.environ
)
while not ready.exists():
    time.sleep(0.05)
Path(sys.argv[1]).write_text("started")
time.sleep(600)
"""
PLAIN = "import sys, time"
# As Postfix's master does: its effective user changed, and back.
CHANGING_USER = "import os, sys, time; os.seteuid(65534); os.seteuid(0)"


@pytest.mark.parametrize(
    "server",
    [{"SERVER": PLAIN}, {"SERVER": CHANGING_USER, "KEPT": "1"}],
    ids=["a-server", "a-server-changing-its-user-kept"],
)
def test_a_tied_server_ends_with_its_killed_test_process(
    tmp_path: Path, server: dict[str, str]
) -> None:
    if os.geteuid() != 0:
        pytest.fail("changing a server's user takes root")
    before, left = leftovers.after_a_killed_child(
        CHILD,
        tmp_path,
        tmp_path.parent / f"{tmp_path.name}.log",
        {"SCRATCH": str(tmp_path), **server},
    )
    assert any("time.sleep(600)" in command for command in before.values()), before
    assert left == {}, left
