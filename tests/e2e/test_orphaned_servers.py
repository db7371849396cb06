"""A test process killed outright (SIGKILL: no teardown, no handler) leaves none of the servers it
started running: Debian's Postfix, postgrey, the private PostgreSQL pair, PgBouncer, nginx and
Chromium, each started by the support code the tests use, all end with it."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import leftovers, nginx, pgbouncer, postfix, postgrey, private_postgres
from support.browser import need_a_browser

# What the child runs: every server started, then a wait to be killed in. Its servers put their
# directories under TMPDIR, the test's own.
CHILD = """
import json
import os
import sys
import time
from pathlib import Path

from support import nginx, postgrey
from support.browser import chromium
from support.pgbouncer import PgBouncer
from support.postfix import Postfix
from support.replication import PostgresPair
from support.ports import free_port
from support.smtp_stages import SmtpCA

mail = Postfix()
mail.start()
greylister = postgrey.Postgrey(mail.policy_port, 60)
pair = PostgresPair().__enter__()
pooler = PgBouncer().__enter__()
prefix = Path(os.environ["TMPDIR"]) / "nginx"
prefix.mkdir()
ports = {"http": free_port(), "https": free_port(), "api": free_port()}
web = nginx.start(nginx.configure(prefix, **ports, ca=SmtpCA.make()))
browser = chromium().__enter__()
browser.new_page().goto("about:blank")
Path(sys.argv[1]).write_text("started")
time.sleep(600)
"""

# What the scan must find before the kill, or the test would prove nothing.
EXPECTED = {
    "Postfix": "/usr/lib/postfix/sbin/master",
    "postgrey": "postgrey",
    "PostgreSQL": "/usr/lib/postgresql/15/bin/postgres",
    "PgBouncer": "pgbouncer",
    "nginx": "nginx: master process",
    "Chromium": "chromium",
}


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory for the servers' own, which their unprivileged users may enter (pytest's
    temporary directories are root's alone); whatever still runs from it is killed after."""
    base = Path(tempfile.mkdtemp(prefix="outpost-orphans-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        leftovers.kill(leftovers.running_from(base))
        shutil.rmtree(base, ignore_errors=True)


def _need_the_servers() -> None:
    """Fail, never skip, without Debian's servers."""
    if not all(
        (
            postfix.available(),
            postgrey.available(),
            private_postgres.available(),
            pgbouncer.available(),
            nginx.available(),
        )
    ):
        pytest.fail(
            "needs root, PostgreSQL 15 and `apt-get install postfix sasl2-bin libsasl2-modules "
            "postgrey pgbouncer nginx-light`"
        )
    need_a_browser()


@pytest.mark.postgresql_only
@pytest.mark.timeout(leftovers.STARTING + leftovers.ENDING + 120)
def test_servers_end_with_the_test_process_that_started_them_even_killed(
    scratch: Path, tmp_path: Path
) -> None:
    _need_the_servers()
    before, left = leftovers.after_a_killed_child(
        CHILD, scratch, tmp_path / "child.log", {"TMPDIR": str(scratch)}
    )
    for name, mark in EXPECTED.items():
        assert any(mark in command for command in before.values()), f"no {name} ran: {before}"
    assert left == {}, f"left running by a killed test process:\n{json.dumps(left, indent=1)}"
