"""Alembic environment: the URL comes from the caller's config or from DATABASE_URL."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

from shared.bounds import MIGRATION_TIMEOUT
from shared.db import create_engine_for
from shared.models import metadata
from shared.settings.database import DATABASE_URL

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

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
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
            raise RuntimeError("the migration left rows referencing rows that are gone")
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
engine.dispose()
