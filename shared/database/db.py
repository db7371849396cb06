"""Engines for PostgreSQL and SQLite, and migrations to head."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url

import migrations
from shared.database import connection_events
from shared.database.bounds import LONGEST_CONNECT, OPERATOR_TIMEOUT
from shared.settings.config import Settings
from shared.settings.database_url import connect_arguments

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(migrations.__file__).parent


def engine_for(settings: Settings, *, timeout: float | None = None) -> Engine:
    """The engine on DATABASE_URL, as DATABASE_POOLER says it is reached; its transactions
    bounded by DATABASE_TIMEOUT, or by `timeout` (an operator's, a purge's)."""
    return create_engine_for(
        settings.database_url,
        transaction_pooler=settings.database_pooler == "transaction",
        timeout=settings.database_timeout if timeout is None else timeout,
    )


def create_engine_for(
    url: str,
    *,
    transaction_pooler: bool = False,
    timeout: float = OPERATOR_TIMEOUT,
    **kwargs: Any,
) -> Engine:
    """An engine tuned for the dialect: SQLite gets WAL, a busy timeout and write-ahead locks.

    Behind a transaction pooler, each transaction may run on another server connection, so
    psycopg must not prepare statements server-side (PgBouncer 1.18 cannot route them).
    Each transaction, waiting for a pooled connection and, on SQLite, for the write lock, are
    bounded by `timeout` seconds: an operator's by default, DATABASE_TIMEOUT for requests and
    polls (engine_for). Connecting takes 2 s at the least and 10 at most.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("pool_timeout", timeout)
        # Every connection is made from connect_arguments, as the relay's LISTEN is: the URL
        # only names the dialect (SQLAlchemy reads neither libpq's host lists nor its options).
        connect_args = connect_arguments(
            url, connect_timeout=math.ceil(min(timeout, LONGEST_CONNECT))
        )
        if transaction_pooler:
            connect_args["prepare_threshold"] = None
        connect_args.update(kwargs.pop("connect_args", {}))
        named = URL.create(parsed.drivername, username=parsed.username, database=parsed.database)
        engine = create_engine(named, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", connection_events.checked_in)
        event.listen(engine, "checkin", connection_events.checked_in)
        event.listen(engine, "checkout", connection_events.ping_if_idle)
        event.listen(engine, "do_connect", partial(connection_events.bounded_connection, timeout))
        event.listen(engine, "handle_error", connection_events.read_only_is_away)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": timeout}, **kwargs)
    busy_ms = round(timeout * 1000)
    event.listen(engine, "connect", partial(connection_events.sqlite_on_connect, busy_ms=busy_ms))
    event.listen(engine, "begin", connection_events.sqlite_on_begin)
    return engine


def alembic_config(url: str) -> Config:
    """An alembic Config for the packaged migrations, bound to `url`."""
    # alembic (with mako and pygments) loads when migrations are run or read, not at every
    # start (docs/decisions/0032-commands-load-what-they-use.md).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


@dataclass(frozen=True)
class Migrated:
    """What a migration run did: the revision it started from (None: an empty database), the
    one it ended at, and each revision applied in order with its docstring's first paragraph."""

    started: str | None
    ended: str | None
    applied: list[tuple[str, str]]

    def said(self) -> list[str]:
        """Each migration applied, then where the schema started and ended; or that nothing
        was to apply."""
        if not self.applied:
            return [f"database already at {self.ended}, nothing to apply"]
        count = len(self.applied)
        plural = "migration" if count == 1 else "migrations"
        started = self.started or "an empty database"
        return [f"applied {revision}: {doc}" for revision, doc in self.applied] + [
            f"database upgraded from {started} to {self.ended} ({count} {plural})"
        ]


def migrate(url: str) -> Migrated:
    """Upgrade the database at `url` to the newest revision; what it did."""
    from alembic import command

    config = alembic_config(url)
    started = _revision_at(url)
    command.upgrade(config, "head")
    ended = _revision_at(url)
    script = _scripts()
    between = script.iterate_revisions(ended or "base", started or "base") if ended else []
    # A script's `doc` is its docstring's first paragraph, wrapped: said on one line.
    applied = [(r.revision, " ".join((r.doc or "").split())) for r in reversed(list(between))]
    return Migrated(started, ended, applied)


def _revision_at(url: str) -> str | None:
    """The database's alembic revision, None when it has none yet."""
    engine = create_engine_for(url, timeout=OPERATOR_TIMEOUT)
    try:
        with engine.connect() as connection:
            revisions = _revisions(connection)
        return revisions[0] if revisions else None
    finally:
        engine.dispose()


def schema_is_current(engine: Engine) -> bool:
    """Whether this code runs on the database's schema (_runs_on)."""
    with engine.connect() as connection:
        return _runs_on(connection)


def ready_to_commit(engine: Engine) -> bool:
    """Whether this code runs on the schema (_runs_on), in a transaction that commits like a
    request's.

    On PostgreSQL the transaction writes a record to the WAL (a transactional logical message,
    which any role may write, and no table holds), so its COMMIT waits for a synchronous standby
    as every write does: a database whose commits hang is not ready, though it answers reads.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_logical_emit_message(true, 'outpost', 'ready')"))
        return _runs_on(connection)


def _runs_on(connection: Connection) -> bool:
    """Whether the schema is at this code's newest revision, or past it: migrations only add
    (expand, then contract), so the code of the previous release keeps working on a revision it
    does not know while an upgrade is under way."""
    revisions = _revisions(connection)
    return not Schema(None if revisions is None else tuple(revisions), _head_revision()).behind


def _revisions(connection: Connection) -> list[str] | None:
    """The revisions alembic's table holds, None without the table. Read directly: alembic's
    MigrationContext logs two INFO lines each time it is made, and /readyz asks on every probe."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return list(connection.scalars(text("SELECT version_num FROM alembic_version")))


@dataclass(frozen=True)
class Schema:
    """The revisions a database's schema is at (None: no migration has run) and this code's
    newest."""

    revisions: tuple[str, ...] | None
    head: str | None

    @property
    def behind(self) -> bool:
        """Whether the database lacks migrations this code needs: none run, or an older one.

        A revision this code does not know is a newer one (an upgrade under way whose
        migrations ran first): not behind, so a process of the previous release keeps working
        meanwhile.
        """
        if self.revisions is None:
            return True
        current = set(self.revisions)
        return current != {self.head} and current <= _known_revisions()


def schema_of(engine: Engine) -> Schema:
    """Where the database's schema is, and where this code's migrations end."""
    with engine.connect() as connection:
        revisions = _revisions(connection)
    return Schema(None if revisions is None else tuple(revisions), _head_revision())


def schema_behind(engine: Engine) -> bool:
    """Whether the database lacks migrations this code needs (Schema.behind)."""
    return schema_of(engine).behind


def _shipped_revisions() -> frozenset[str]:
    """Every revision shipped beside this code: the number its file's name starts with, which
    is its revision (tests/migrations/test_migrations.py holds this to alembic's reading), so
    that a process checks its schema at start without loading alembic."""
    return frozenset(
        path.name.partition("_")[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py")
    )


# Read once, as this code is imported: the revisions of the code that runs. An upgrade replaces
# the files on disk under a running process (`pip install --upgrade`, before `migrate`), and a
# process reading them later would judge its own schema by a newer code's head: the old API's
# /readyz would fail on a database its code runs on.
_KNOWN_REVISIONS = _shipped_revisions()
_HEAD_REVISION = max(_KNOWN_REVISIONS, default=None)


def _known_revisions() -> frozenset[str]:
    """Every revision of the running code."""
    return _KNOWN_REVISIONS


def _head_revision() -> str | None:
    """The running code's newest revision (the history is a line)."""
    return _HEAD_REVISION


def _scripts() -> ScriptDirectory:
    """The packaged migrations, as alembic reads them."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))
