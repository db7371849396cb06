"""Expand, then contract: the code of the commit before the newest migration, built into a wheel
and installed in a virtualenv of its own, keeps working while the current code migrates its
database and after (its API registers and activates, its relay claims and delivers, its operator
commands read), so API hosts and relays can be upgraded one at a time after `outpost migrate`;
and this code reads and is ready on a schema newer than its own, as the next migration needs."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.database.db import MIGRATIONS_DIR, create_engine_for, migrate
from support import processes, wheels
from support.commands import here
from support.databases import create_database, drop_database, url_of
from support.ports import free_port
from support.processes import ROOT
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
PEOPLE = ("ada@example.com", "grace@example.com")


@dataclass(frozen=True)
class OldCode:
    """The build of the commit before the newest migration, installed: the revision that
    migration makes, the commit, and the virtualenv's bin/."""

    revision: str
    commit: str
    bin: Path

    def run(
        self, env: dict[str, str], cwd: Path, *command: str
    ) -> subprocess.CompletedProcess[str]:
        """One of its commands (`outpost …`, `outbox-relay …`) to its end."""
        return subprocess.run(
            [self.bin / command[0], *command[1:]],
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=wheels.SLOW,
            check=False,
        )


def code_before_newest_migration() -> str:
    """The commit before the first that had the newest migration's revision, under whatever
    name (HEAD while it is not committed yet); a failure saying why when git's history cannot
    tell."""
    newest = max((ROOT / "migrations" / "versions").glob("0*.py"))
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=wheels.SLOW,
        check=False,
    )
    if shallow.stdout.strip() != "false":
        pytest.fail(
            f"the code before {newest.name} is built from git's history, which this checkout "
            f"lacks ({shallow.stderr.strip() or 'a shallow clone'}): run the tests in a full "
            "clone (`git fetch --unshallow`)",
            pytrace=False,
        )
    # Its number, not its name: a file renamed (0020 was) is the same revision.
    revision = newest.relative_to(ROOT).parent / f"{newest.name.split('_')[0]}_*.py"
    # Along the first parents, a merge's changes read against the branch it joined: a revision
    # a branch brought (or a merge renumbered) was added by the merge, and the code before it is
    # the branch's first parent.
    added = wheels.git(
        ROOT, "log", "--first-parent", "--diff-merges=first-parent", "--diff-filter=A",
        "--format=%H", "--no-patch", "--", str(revision),
    )  # fmt: skip
    return wheels.git(ROOT, "rev-parse", f"{added.split()[-1]}^" if added else "HEAD")


@pytest.fixture
def old_code(tmp_path: Path) -> OldCode:
    """The code before the newest migration, built and installed as a release would be."""
    commit = code_before_newest_migration()
    source = wheels.export(ROOT, commit, tmp_path / "old-source")
    wheel = wheels.build(source, tmp_path / "dist", version=f"0.0.0+g{commit[:9]}")
    bin_dir = wheels.virtualenv(tmp_path / "old-venv")
    wheels.install(bin_dir, wheel)
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    old = OldCode(head, commit, bin_dir)
    where = old.run({}, tmp_path, "python", "-c", "import api_service; print(api_service.__file__)")
    assert where.stdout.startswith(str(tmp_path / "old-venv")), f"not the old code: {where}"
    return old


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database with nothing in it, dropped after the test."""
    name = create_database("outpost_upgrade")
    try:
        yield url_of(name)
    finally:
        drop_database(name)


def register(api: str, smtp: SinkServer, engine: Engine, email: str, mails: int) -> str:
    """Register `email` through the API; the code of the activation mail it is sent, once the
    relay recorded it sent (an activation before that cancels the message in flight)."""
    status, body, _ = processes.post_json(
        f"{api}/v1/registrations", {"email": email, "password": PASSWORD}
    )
    assert (status, body.get("status")) == (202, "pending_activation"), body
    [mail] = [m for m in smtp.sink.wait_for(mails, timeout=60) if m["To"] == email]
    processes.eventually(lambda: all_sent(engine), 60, "the activation recorded sent")
    return code_in(mail)


def readiness(api: str) -> int:
    """The status /readyz answers."""
    try:
        with urllib.request.urlopen(f"{api}/readyz", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def all_sent(engine: Engine) -> bool:
    """Whether the relay recorded every message of the outbox sent."""
    return {row["status"] for row in rows(engine, "outbox")} == {"sent"}


@pytest.mark.postgresql_only
def test_the_code_before_the_newest_migration_keeps_working_through_and_after_it(
    old_code: OldCode, empty_database: str, env: dict[str, str], smtp: SinkServer, tmp_path: Path
) -> None:
    env = {**env, "DATABASE_URL": empty_database}
    made = old_code.run(env, tmp_path, "outpost", "migrate")
    assert made.returncode == 0, made.stderr
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    served = {**env, "OUTPOST_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    old_api = processes.start(
        [str(old_code.bin / "outpost"), "serve"], served, tmp_path, tmp_path / "api.log"
    )
    old_relay = processes.start(
        [str(old_code.bin / "outbox-relay"), "run"], env, tmp_path, tmp_path / "relay.log"
    )
    engine = create_engine_for(empty_database)
    try:
        processes.wait_http(f"{api}/readyz", old_api, timeout=60)
        codes = [register(api, smtp, engine, PEOPLE[0], 1)]
        # While both run, as `outpost migrate` does before any host is upgraded.
        upgrade = migrate(empty_database)
        assert upgrade.applied and upgrade.ended == old_code.revision, upgrade.said()
        codes.append(register(api, smtp, engine, PEOPLE[1], 2))
        for email, code in zip(PEOPLE, codes, strict=True):
            status, body, _ = processes.post_json(
                f"{api}/v1/activations", {"email": email, "code": code}
            )
            assert status == 200, body
        welcomes = [
            m["To"] for m in smtp.sink.wait_for(4, 60) if m["Subject"].startswith("Welcome")
        ]
        assert sorted(welcomes) == list(PEOPLE)
        processes.eventually(lambda: all_sent(engine), 60, "every message recorded sent")
        reads = [
            old_code.run(env, tmp_path, "outbox-relay", *read)
            for read in (("stats", "--json"), ("dead", "list", "--json"))
        ]
        ready = readiness(api)
    finally:
        engine.dispose()
        relay_exit = processes.stop(old_relay)
        api_exit = processes.stop(old_api)
    assert (relay_exit, api_exit) == (0, 0)
    assert ready == 200
    assert [read.returncode for read in reads] == [0, 0], [read.stderr for read in reads]
    assert json.loads(reads[0].stdout)["by_status"] == {"sent": {"email": 4}}
    assert json.loads(reads[1].stdout) == []


def test_this_code_reads_and_is_ready_on_a_schema_newer_than_its_own_but_not_an_older_one(
    client: FlaskClient, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    """A revision this code does not know is the next release's, migrated first."""
    for revision, works in (("f0f0f0f0f0f0", True), ("0001", False)):
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
        assert client.get("/readyz").status_code == (200 if works else 503), revision
        for read in (("stats",), ("dead", "list")):
            assert here(env, tmp_path, *read).returncode == (0 if works else 1), (revision, read)
