"""`outpost migrate` names its database (never its password), then says what it did: each
migration applied (its docstring's first paragraph, whole), where the schema started and ended,
and that a run with nothing to apply applied nothing; a database that refuses is one line."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from shared.database.db import MIGRATIONS_DIR, alembic_config
from support.commands import outpost

SCRIPT = ScriptDirectory(str(MIGRATIONS_DIR))
HEAD = SCRIPT.get_current_head()
PASSWORD = "s3cret-owner-pw"


def run_migrate(cwd: Path, **urls: str) -> subprocess.CompletedProcess[str]:
    return outpost({**urls, "PATH": "/usr/bin:/bin"}, cwd, "migrate")


def outpost_migrate(url: str, cwd: Path) -> list[str]:
    """What it says after naming the database."""
    done = run_migrate(cwd, DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    named, *said = done.stdout.splitlines()
    assert named == f"outpost: database {url}"
    return said


def first_paragraph(revision: str) -> str:
    """A migration's docstring's first paragraph, on one line."""
    script = SCRIPT.get_revision(revision)
    assert script is not None
    return " ".join(script.longdoc.split("\n\n")[0].split())


def test_an_empty_database_gets_every_migration_named_then_a_rerun_applies_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outpost.db'}"
    revisions = [r.revision for r in reversed(list(SCRIPT.walk_revisions()))]
    said = outpost_migrate(url, tmp_path)
    assert said[:-1] == [f"outpost: applied {r}: {first_paragraph(r)}" for r in revisions]
    # Wrapped in its docstring, each first paragraph is said whole: none is cut mid-sentence.
    assert all(line.endswith(".") for line in said[:-1])
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
        f"outpost: applied {HEAD}: {first_paragraph(HEAD)}",
        f"outpost: database upgraded from {previous} to {HEAD} (1 migration)",
    ]


@pytest.mark.postgresql_only
def test_it_names_the_owners_database_without_its_password(
    database_url: str, tmp_path: Path
) -> None:
    """MIGRATE_DATABASE_URL when set: the owner's, with a password (which trust auth ignores)."""
    owner = make_url(database_url).set(password=PASSWORD)
    done = run_migrate(
        tmp_path,
        DATABASE_URL=f"postgresql://outpost_app:{PASSWORD}@127.0.0.1:1/elsewhere",
        MIGRATE_DATABASE_URL=owner.render_as_string(hide_password=False),
    )
    assert done.returncode == 0, done.stderr
    named = f"postgresql://{owner.username}@{owner.host}:{owner.port}/{owner.database}"
    assert done.stdout.splitlines() == [
        f"outpost: database {named}",
        f"outpost: database already at {HEAD}, nothing to apply",
    ]
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.postgresql_only
def test_a_database_that_refuses_is_one_line_quoting_it(database_url: str, tmp_path: Path) -> None:
    role = f"outpost_owner_{secrets.token_hex(4)}"
    url = make_url(database_url).set(username=role, password=PASSWORD)
    done = run_migrate(tmp_path, DATABASE_URL=url.render_as_string(hide_password=False))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("outpost: database error: connection to server at ")
    assert line.endswith(f'failed: FATAL: role "{role}" does not exist')
    assert PASSWORD not in done.stdout + done.stderr
