"""Fixtures: every database test runs on SQLite and on PostgreSQL, each on a fresh database.

Migrations run once per session into a template (a file for SQLite, a template database for
PostgreSQL); each test gets a copy, so tests may use many connections and processes at once.
Set TEST_DATABASE_URL to choose the PostgreSQL server; with OUTPOST_REQUIRE_POSTGRES=1 (CI) an
unreachable server fails the run instead of skipping its half.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from shared.config import Settings, normalise_database_url
from shared.db import create_engine_for, migrate
from tests.smtp_sink import SinkServer

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("OUTPOST_REQUIRE_POSTGRES") == "1"
SECRET_KEY = "test-secret-key-0123456789abcdef"


def _pg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace(
        "postgres://", "postgresql://", 1
    )


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_pg_conninfo(PG_URL), autocommit=True, connect_timeout=5)


def _with_database(url: str, name: str) -> str:
    base, _, _ = normalise_database_url(url).rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A migrated PostgreSQL template database, or None when the server is unreachable."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            pytest.exit(f"PostgreSQL unreachable at {PG_URL}: {exc}", returncode=3)
        yield None
        return
    name = f"outpost_tpl_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(_with_database(PG_URL, name))
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_template: str | None,
) -> Iterator[str]:
    """A fresh database at head, dropped after the test."""
    if request.param == "sqlite":
        path = tmp_path / "outpost.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if pg_template is None:
        pytest.skip("PostgreSQL unreachable (set TEST_DATABASE_URL)")
    name = f"outpost_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _with_database(PG_URL, name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend(database_url: str) -> str:
    """`sqlite` or `postgresql`."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database, for reading what the code wrote."""
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def smtp() -> Iterator[SinkServer]:
    """A real SMTP server on a free port."""
    server = SinkServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(database_url: str, smtp: SinkServer) -> dict[str, str]:
    """The environment both processes get in a test."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": smtp.url,
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "RELAY_BACKOFF_BASE": "0.001",
        "RELAY_BACKOFF_CAP": "0.002",
        "RELAY_POLL_INTERVAL": "0.2",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings parsed from the test environment."""
    return Settings.from_env(env)


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[Flask]:
    """The API bound to the test database."""
    app = create_app(env)
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the API."""
    return app.test_client()
