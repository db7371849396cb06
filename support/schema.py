"""The current schema in one file: `migrations/schema.sql`, PostgreSQL's dump of a fresh database
migrated to head, to read the tables without replaying every revision.

Rewrite it after adding a migration: `.venv/bin/python -m support.schema`;
tests/migrations/test_schema_file.py fails while it is out of date."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shared.database.db import migrate
from support.databases import create_database, drop_database, libpq_url, url_of

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "migrations" / "schema.sql"
HEADER = (
    "-- The schema at head, written by `python -m support.schema` (pg_dump --schema-only of a\n"
    "-- fresh database migrated by alembic). Read it; never apply it: migrations/versions/ is\n"
    "-- how a database changes.\n"
)
# What pg_dump writes about its own run rather than the schema: its comments, session set-up, and
# the psql guard with a random key of each run (`\restrict`, PostgreSQL 15.14 and later).
_RUN_LINES = ("--", "SET ", "SELECT pg_catalog.set_config(", "\\restrict ", "\\unrestrict ")


def pg_dump() -> str:
    """Debian's pg_dump for the server the tests use (PostgreSQL 15)."""
    return shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"


def dump(url: str) -> str:
    """The schema of the database at `url` as the file holds it."""
    run = subprocess.run(
        [pg_dump(), "--schema-only", "--no-owner", "--no-privileges", "--no-comments",
         "--no-tablespaces", "--dbname", libpq_url(url)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    kept = [line for line in run.stdout.splitlines() if not line.startswith(_RUN_LINES)]
    body = "\n".join(kept).strip()
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return f"{HEADER}\n{body}\n"


def at_head() -> str:
    """The schema of a fresh database migrated to head."""
    name = create_database("outpost_schema")
    try:
        migrate(url_of(name))
        return dump(url_of(name))
    finally:
        drop_database(name)


def main() -> None:
    SCHEMA_FILE.write_text(at_head())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
