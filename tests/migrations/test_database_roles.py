"""Least privilege in the database: migrations run as the schema's owner (MIGRATE_DATABASE_URL),
the API and the relay as a role with DML rights only, which docs/install.md creates; such a
role registers, delivers and is refused every DROP, ALTER and CREATE."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, make_url

from api_service import create_app
from outbox_relay.bootstrap import build_relay
from shared.database.db import alembic_config, create_engine_for
from shared.settings.config import Settings
from support import processes
from support.rows import statuses
from support.smtp_sink import SinkServer

pytestmark = pytest.mark.postgresql_only

INSTALL = processes.ROOT / "docs" / "install.md"


def runtime_grants() -> str:
    """The SQL block of docs/install.md that gives the runtime role its rights."""
    blocks = re.findall(r"```sql\n(.*?)```", INSTALL.read_text(), flags=re.S)
    [grants] = [b for b in blocks if "GRANT SELECT, INSERT, UPDATE, DELETE" in b]
    return grants


@pytest.fixture
def runtime_url(database_url: str) -> Iterator[str]:
    """DATABASE_URL as a fresh runtime role, made by the documented SQL on this database."""
    owner = make_url(database_url)
    role = f"outpost_app_{secrets.token_hex(4)}"
    sql = (
        runtime_grants()
        .replace("outpost_app", role)
        .replace("outpost_owner", str(owner.username))
        .replace("DATABASE outpost", f"DATABASE {owner.database}")
    )
    dsn = owner.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")  # type: ignore[arg-type]
        connection.execute(sql)  # type: ignore[arg-type]
    try:
        yield owner.set(username=role).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            connection.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


def test_the_runtime_role_registers_and_delivers_and_can_change_no_schema(
    env: dict[str, str],
    runtime_url: str,
    smtp: SinkServer,
    engine: Engine,
) -> None:
    app = create_app({**env, "DATABASE_URL": runtime_url})
    try:
        answer = app.test_client().post(
            "/v1/registrations",
            json={"email": "ada@example.com", "password": "correct horse battery staple"},
        )
        assert answer.status_code == 202, answer.get_data(as_text=True)
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions["outpost"].engine.dispose()
    settings = Settings.from_env({**env, "DATABASE_URL": runtime_url})
    relay = build_relay(settings, create_engine_for(settings.database_url))
    try:
        relay.drain()
    finally:
        relay.close()
        relay.engine.dispose()
    assert statuses(engine) == {"sent": 1}
    assert len(smtp.sink.received) == 1

    dsn = make_url(runtime_url).set(drivername="postgresql").render_as_string(hide_password=False)
    for statement in (
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN sneaky integer",
        "CREATE TABLE sneaky (x integer)",
        "TRUNCATE outbox",
    ):
        with (
            psycopg.connect(dsn) as connection,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            connection.execute(statement)  # type: ignore[arg-type]


def test_outpost_migrate_runs_as_the_owner_named_by_migrate_database_url(
    runtime_url: str, database_url: str, tmp_path: Path
) -> None:
    """One revision behind: as the runtime role the migration is refused; with the owner's URL
    beside it, the same command applies it."""
    command.downgrade(alembic_config(database_url), "-1")

    def outpost_migrate(**urls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "outpost.cli", "migrate"],
            env={**urls, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )

    refused = outpost_migrate(DATABASE_URL=runtime_url)
    assert refused.returncode != 0
    refusals = ("InsufficientPrivilege", "must be owner", "permission denied")
    assert any(refusal in refused.stderr for refusal in refusals), refused.stderr
    done = outpost_migrate(DATABASE_URL=runtime_url, MIGRATE_DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("(1 migration)")
