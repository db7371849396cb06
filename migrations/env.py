"""Alembic environment: the URL comes from the caller's config or from DATABASE_URL."""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext

from shared.database.bounds import MIGRATION_TIMEOUT
from shared.database.db import create_engine_for
from shared.database.models import metadata
from shared.settings.database import DATABASE_URL

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _references_hold(ctx: MigrationContext, **_: Any) -> None:
    """Stop a migration on SQLite, inside its transaction, that left rows referencing rows
    that are gone."""
    if (
        ctx.connection is not None
        and ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").first()
    ):
        raise RuntimeError("the migration left rows referencing rows that are gone")


url = config.attributes.get("database_url") or DATABASE_URL.read(os.environ)

engine = create_engine_for(url, timeout=MIGRATION_TIMEOUT)
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table and drops the old one, and under foreign_keys=ON
        # SQLite deletes the rows referencing it first (ON DELETE CASCADE: every attempt and
        # provider event of the outbox). The pragma does nothing inside a transaction, so it
        # is set on the driver's connection before alembic begins one (SQLite's own procedure
        # for altering a table: keys off, rebuild, foreign_key_check).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        # Each migration commits with its version stamp, so that a run that stops leaves the
        # database at the last one it completed; a step that cannot run in a transaction (an
        # index built CONCURRENTLY) is written to be run again.
        transaction_per_migration=True,
        on_version_apply=[_references_hold] if sqlite else [],
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
engine.dispose()
