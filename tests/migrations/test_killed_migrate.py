"""`outpost migrate` killed inside any migration leaves the database at the last revision it
completed, with nothing of the one it was in; run again, it finishes the job, and the rows,
pending messages and dead letters of a populated database survive and still work."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from api_service import create_app
from shared.clock import utcnow
from shared.database.db import MIGRATIONS_DIR, alembic_config
from shared.secrets.secretbox import SecretBox
from support.constants import SECRET_KEY, MakeRelay
from support.early_rows import OUTBOX_0005, early_row
from support.killed_migrate import Kill, KilledMigrate, Ran
from support.processes import eventually
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

SCRIPT = ScriptDirectory(str(MIGRATIONS_DIR))
REVISIONS = [script.revision for script in reversed(list(SCRIPT.walk_revisions()))]
HEAD = REVISIONS[-1]


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _killed(ran: Ran, engine: Engine, kill: Kill) -> None:
    """The run died where it was told, and left the revision before the one it was in."""
    assert ran.returncode == -9, f"{kill}: {ran.output}"
    assert kill.after is None or ran.statements == kill.after, kill
    assert _revision(engine) == SCRIPT.get_revision(kill.revision).down_revision, kill


def _kill_inside(migrate: KilledMigrate, url: str, engine: Engine, revision: str) -> None:
    """Kill runs inside `revision`'s migration: at its commit (everything done, the version
    stamped), then after its first statement and half way."""
    at_commit = Kill(revision)
    ran = migrate.run(url, at_commit)
    _killed(ran, engine, at_commit)
    assert ran.statements is not None
    for after in sorted({1, ran.statements // 2} - {0}):
        kill = Kill(revision, after)
        _killed(migrate.run(url, kill), engine, kill)


def _populate(engine: Engine) -> None:
    """Accounts, a pending notice, a pending code, a sent message and a dead letter with its
    attempt, as revision 0001 stores them."""
    now = utcnow()
    with engine.begin() as connection:
        for email, status in (("ada@example.com", "active"), ("bob@example.com", "pending")):
            connection.execute(
                sa.text(
                    "INSERT INTO users (email, password_hash, locale, status, created_at)"
                    " VALUES (:email, '!', 'en', :status, :now)"
                ),
                {"email": email, "status": status, "now": now},
            )
        connection.execute(
            sa.insert(OUTBOX_0005),
            [
                early_row("welcome1", "welcome", "pending"),
                early_row(
                    "reset1",
                    "password_reset",
                    "pending",
                    expires_at=now + timedelta(days=1),
                    secret_params=SecretBox(SECRET_KEY).seal({"code": "123456"}),
                ),
                early_row("sent1", "welcome", "sent", attempts=1),
                early_row("dead1", "welcome", "dead", attempts=8, dead_reason="max_attempts"),
            ],
        )
        connection.execute(
            sa.text(
                "INSERT INTO outbox_attempts (outbox_id, attempted_at, outcome, error, duration_ms)"
                " SELECT id, :now, 'transient', 'SMTP 451', 12 FROM outbox"
                " WHERE public_id = 'dead1'"
            ),
            {"now": now},
        )


def _schema(engine: Engine) -> list[tuple[object, ...]]:
    """Every table, column, index (and whether it is valid), constraint, view and trigger."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            query = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            # A table rebuilt by a batch migration lists its constraints in an order that
            # varies from one process to the next (a set's): each definition's lines, sorted.
            return [
                (
                    kind,
                    name,
                    table,
                    sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()),
                )
                for kind, name, table, sql in connection.execute(sa.text(query))
            ]
        return [tuple(row) for query in PG_SCHEMA for row in connection.execute(sa.text(query))]


PG_SCHEMA = (
    "SELECT table_name, column_name, data_type, is_nullable, column_default, ordinal_position"
    " FROM information_schema.columns WHERE table_schema = current_schema()"
    " ORDER BY table_name, column_name",
    "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE c.relnamespace = current_schema()::regnamespace ORDER BY c.relname",
    "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
    " WHERE connamespace = current_schema()::regnamespace ORDER BY conname",
    "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()"
    " ORDER BY viewname",
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
)


MIGRATE = [sys.executable, "-m", "outpost.cli", "migrate"]


def _outpost_migrate(url: str, cwd: Path) -> str:
    """A run of its own, in a process started for it: what it said."""
    done = subprocess.run(
        MIGRATE,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _withheld_index_valid(engine: Engine) -> bool | None:
    """Whether 0014's index is valid (None: there is none)."""
    query = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('outbox_withheld')"
    with engine.connect() as connection:
        valid: bool | None = connection.execute(sa.text(query)).scalar()
        return valid


@pytest.mark.long
@pytest.mark.timeout(300)
def test_migrate_killed_inside_each_migration_finishes_when_run_again(
    database_url: str,
    env: dict[str, str],
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    tmp_path: Path,
) -> None:
    config = alembic_config(database_url)
    straight = _schema(engine)
    command.downgrade(config, "base")
    with KilledMigrate(tmp_path) as migrate:
        _kill_inside(migrate, database_url, engine, REVISIONS[0])
        # The rerun finishes 0001 and stops at 0002's start, where rows are written.
        _killed(migrate.run(database_url, Kill(REVISIONS[1], 0)), engine, Kill(REVISIONS[1], 0))
        _populate(engine)
        for revision in REVISIONS[1:]:
            _kill_inside(migrate, database_url, engine, revision)
    said = _outpost_migrate(database_url, tmp_path)
    assert f"database upgraded from {REVISIONS[-2]} to {HEAD} (1 migration)" in said
    assert _schema(engine) == straight

    assert {u["email"] for u in rows(engine, "users")} == {"ada@example.com", "bob@example.com"}
    assert [a["error"] for a in rows(engine, "outbox_attempts")] == ["SMTP 451"]
    with engine.connect() as connection:
        dead = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters")).scalars()
        assert list(dead) == ["dead1"]
    assert make_relay().drain() == 2
    received = {str(mail["To"]): mail for mail in smtp.sink.wait_for(2)}
    assert set(received) == {"welcome1@example.com", "reset1@example.com"}
    assert code_in(received["reset1@example.com"]) == "123456"
    app = create_app(env)
    try:
        body = {"email": "cy@example.com", "password": "correct horse battery staple"}
        assert app.test_client().post("/v1/registrations", json=body).status_code == 202
    finally:
        app.extensions["outpost"].engine.dispose()


def _waiting_build(engine: Engine) -> int | None:
    """The backend whose CREATE INDEX CONCURRENTLY waits on a lock, if one does (read in a
    transaction of its own: one sees the server's activity as it was when it began)."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        pid: int | None = connection.execute(sa.text(query)).scalar()
        return pid


@pytest.mark.postgresql_only
def test_an_index_build_stopped_half_way_is_built_again(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """0014 builds its index CONCURRENTLY, outside any transaction. Stopped while the build
    waits for the writers before it (here the test's; the migration's timeout or a terminated
    backend alike), it leaves the index INVALID and the revision at 0013; run again, it drops
    that index and builds it whole."""
    command.downgrade(alembic_config(database_url), "0013")
    with engine.connect() as writer:
        writer.execute(sa.text("LOCK TABLE outbox IN ROW EXCLUSIVE MODE"))
        with (tmp_path / "migrate.out").open("wb") as out:
            migrate = subprocess.Popen(
                MIGRATE,
                env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
                stdout=out,
                stderr=out,
                cwd=tmp_path,
            )
        try:
            # However long a loaded machine takes to start it and get there.
            eventually(lambda: _waiting_build(engine) is not None, 90, "a waiting build")
        finally:
            migrate.kill()
            migrate.wait(60)
        with engine.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": _waiting_build(engine)}
            )
        writer.rollback()
    assert _revision(engine) == "0013"
    assert _withheld_index_valid(engine) is False

    assert f"database upgraded from 0013 to {HEAD}" in _outpost_migrate(database_url, tmp_path)
    assert _withheld_index_valid(engine) is True


@pytest.mark.postgresql_only
def test_0014_left_half_done_by_an_earlier_release_is_finished(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """An earlier release committed 0014's column, CHECKs and update before its index, without
    the version: a run stopped there left 0013 and a column every later run tripped on."""
    config = alembic_config(database_url)
    command.downgrade(config, "0013")
    command.upgrade(config, "0014")
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX outbox_withheld"))
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0013'"))

    assert f"database upgraded from 0013 to {HEAD}" in _outpost_migrate(database_url, tmp_path)
    assert _withheld_index_valid(engine) is True
