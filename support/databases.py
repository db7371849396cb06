"""Creating and dropping throwaway PostgreSQL databases, for the tests and the benchmarks."""

from __future__ import annotations

import os
import uuid

import psycopg

from shared.database_url import normalise_database_url

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def libpq_url(url: str) -> str:
    """The URL as libpq (psycopg.connect) reads it."""
    return normalise_database_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the server of TEST_DATABASE_URL."""
    return psycopg.connect(libpq_url(PG_URL), autocommit=True, connect_timeout=5)


def url_of(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the same server."""
    return f"{normalise_database_url(PG_URL).rpartition('/')[0]}/{name}"


def create_database(prefix: str, template: str | None = None) -> str:
    """A new database with a random name (a copy of `template` if given); its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin() as connection:
        connection.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


def drop_database(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""
    with admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
