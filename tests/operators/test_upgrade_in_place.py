"""An upgrade in place on one host, as docs/install.md's runs it: between `pip install --upgrade`
and `outpost migrate` the running API stays ready (readiness is judged by the code that runs,
read at its start, not by the migrations an upgrade put on disk under it), and a reload
(`systemctl reload outpost-api`, SIGUSR2: a new arbiter with the new code takes over) under
steady requests refuses none."""

from __future__ import annotations

import os
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
from shared.database.db import _head_revision, migrate
from support import processes
from support.constants import SECRET_KEY
from support.ports import free_port

SERVE = [sys.executable, "-m", "outpost.cli", "serve"]
MIGRATE = [sys.executable, "-m", "outpost.cli", "migrate"]
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

    def wait_for(self, more: int) -> None:
        """Until `more` probes more were answered."""
        until = self.answers.total() + more
        processes.eventually(lambda: self.answers.total() >= until, 60, f"{more} probes answered")

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                with urllib.request.urlopen(self._url, timeout=10) as answer:
                    self.answers[str(answer.status)] += 1
            except urllib.error.HTTPError as refused:
                self.answers[str(refused.code)] += 1
            except OSError:
                self.answers["refused"] += 1


def arbiters(log: Path) -> list[int]:
    """The pid of each gunicorn arbiter that started, in order, as its log says."""
    said = [e["message"] for e in processes.json_lines(log)]
    return [int(m.rsplit("(", 1)[1].rstrip(")")) for m in said if m.startswith("Listening at:")]


def stopped(pid: int) -> bool:
    """Whether the process is gone (or a zombie left to its new parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_an_upgrade_in_place_keeps_the_api_ready_and_its_reload_refuses_nothing(
    tmp_path: Path,
) -> None:
    """docs/install.md's upgrade on one host under steady probes: the next release's files on
    disk (its migration not run), `outpost migrate`, then `systemctl reload outpost-api`
    (SIGUSR2): a new arbiter with the new code takes over from the old one, which exits 0;
    every probe is answered 200 throughout."""
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
    log = tmp_path / "api.log"
    api = processes.start(SERVE, env, tmp_path, log, inherit=False)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api, timeout=90)
        with SteadyProbes(port) as probes:
            # `pip install --upgrade`: the next release's migration on disk, not yet run.
            (site / "migrations" / "versions" / "9999_next.py").write_text(
                NEXT_MIGRATION.format(head=_head_revision())
            )
            probes.wait_for(20)
            migrated = subprocess.run(
                [*MIGRATE], env=env, cwd=tmp_path, capture_output=True, timeout=300
            )
            assert migrated.returncode == 0, migrated.stderr
            probes.wait_for(20)
            api.send_signal(signal.SIGUSR2)
            assert api.wait(60) == 0, "the old arbiter, stopped by the new one"
            probes.wait_for(20)
    finally:
        for pid in arbiters(log)[1:]:
            os.kill(pid, signal.SIGTERM)
            processes.eventually(lambda pid=pid: stopped(pid), 60, "the new arbiter stopped")
        processes.stop(api)
    assert set(probes.answers) == {"200"}, probes.answers
    assert len(arbiters(log)) == 2
