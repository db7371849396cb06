"""An upgrade in place on one host, as docs/install.md's runs it: between `pip install --upgrade`
and `outpost migrate` the running API stays ready (readiness is judged by the code that runs,
read at its start, not by the migrations an upgrade put on disk under it), and a reload
(`systemctl reload outpost-api`, SIGHUP) under steady requests refuses none."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import api_service
from shared.db import _head_revision, migrate
from support import processes
from support.constants import SECRET_KEY
from support.smtp_sink import free_port

SERVE = [sys.executable, "-m", "outpost.cli", "serve"]
# What a wheel installs: an upgrade replaces these files under the running processes.
PACKAGES = ("api_service", "shared", "outbox_relay", "outpost", "migrations")
NEXT_MIGRATION = '''"""The next release's migration, on disk before `outpost migrate` runs it."""

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def installed(into: Path) -> Path:
    """A copy of the code where a process imports it from, as a wheel installs it."""
    tree = Path(api_service.__file__).parent.parent
    for package in PACKAGES:
        shutil.copytree(
            tree / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return into


def workers(arbiter: subprocess.Popen[bytes]) -> set[int]:
    """The pids of the arbiter's workers."""
    children = Path(f"/proc/{arbiter.pid}/task/{arbiter.pid}/children").read_text()
    return {int(pid) for pid in children.split()}


class SteadyProbes:
    """`/readyz` asked again and again from a thread, as a balancer does, each answer counted
    (`refused` for a connection the API did not take)."""

    def __init__(self, port: int) -> None:
        self._url = f"http://127.0.0.1:{port}/readyz"
        self.answers: Counter[str] = Counter()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyProbes:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                with urllib.request.urlopen(self._url, timeout=10) as answer:
                    self.answers[str(answer.status)] += 1
            except urllib.error.HTTPError as refused:
                self.answers[str(refused.code)] += 1
            except OSError:
                self.answers["refused"] += 1


def test_an_upgrade_on_disk_keeps_the_api_ready_and_a_reload_refuses_nothing(
    tmp_path: Path,
) -> None:
    site = installed(tmp_path / "site")
    (tmp_path / "home").mkdir()
    database = f"sqlite:///{tmp_path / 'outpost.db'}"
    migrate(database)
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(site),
        "DATABASE_URL": database,
        "SECRET_KEY": SECRET_KEY,
        "OUTPOST_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    api = processes.start(SERVE, env, tmp_path, tmp_path / "api.log", inherit=False)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api, timeout=90)
        first = workers(api)
        with SteadyProbes(port) as probes:
            # `pip install --upgrade`: the next release's migration on disk, not yet run.
            (site / "migrations" / "versions" / "9999_next.py").write_text(
                NEXT_MIGRATION.format(head=_head_revision())
            )
            processes.eventually(lambda: probes.answers.total() >= 20, 30, "probes answered")
            api.send_signal(signal.SIGHUP)
            processes.eventually(lambda: len(workers(api) - first) == 2, 60, "two new workers")
            answered = probes.answers.total()
            processes.eventually(
                lambda: probes.answers.total() >= answered + 20, 30, "the new workers answer"
            )
    finally:
        assert processes.stop(api, signal.SIGTERM) == 0, (tmp_path / "api.log").read_text()
    assert set(probes.answers) == {"200"}, probes.answers
