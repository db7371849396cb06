"""`outpost migrate` says what it did: each migration applied, where the schema started and
ended, and that a run with nothing to apply applied nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from shared.db import MIGRATIONS_DIR, alembic_config

SCRIPT = ScriptDirectory(str(MIGRATIONS_DIR))
HEAD = SCRIPT.get_current_head()


def outpost_migrate(url: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "outpost.cli", "migrate"],
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_an_empty_database_gets_every_migration_named_then_a_rerun_applies_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outpost.db'}"
    revisions = [r.revision for r in reversed(list(SCRIPT.walk_revisions()))]
    said = outpost_migrate(url, tmp_path)
    assert [line.split(":")[0] for line in said[:-1]] == ["outpost"] * len(revisions)
    assert [line.split()[2].rstrip(":") for line in said[:-1]] == revisions
    first = SCRIPT.get_revision(revisions[0])
    assert said[0] == f"outpost: applied {revisions[0]}: {first.doc.splitlines()[0]}"
    count = len(revisions)
    assert (
        said[-1]
        == f"outpost: database upgraded from an empty database to {HEAD} ({count} migrations)"
    )
    assert outpost_migrate(url, tmp_path) == [
        f"outpost: database already at {HEAD}, nothing to apply"
    ]


def test_a_database_one_revision_behind_gets_that_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outpost.db'}"
    head = SCRIPT.get_revision(HEAD)
    previous = head.down_revision
    assert isinstance(previous, str)
    command.upgrade(alembic_config(url), previous)
    assert outpost_migrate(url, tmp_path) == [
        f"outpost: applied {HEAD}: {head.doc.splitlines()[0]}",
        f"outpost: database upgraded from {previous} to {HEAD} (1 migration)",
    ]
