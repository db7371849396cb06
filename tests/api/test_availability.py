"""Database down: a 503 problem, nothing half-written, and recovery without a restart."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from api_service import create_app
from support.constants import SECRET_KEY
from support.databases import admin, libpq_url
from support.ports import free_port
from support.rows import written

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}


@pytest.mark.parametrize("where", ["postgresql-closed-port", "sqlite-unopenable-file"])
def test_an_unreachable_database_is_a_503_problem(where: str, tmp_path: Path) -> None:
    url = (
        f"postgresql://postgres@127.0.0.1:{free_port()}/outpost"
        if where.startswith("postgresql")
        else f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    )
    client = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}).test_client()
    response = client.post("/v1/registrations", json=GOOD)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


@pytest.mark.postgresql_only
def test_the_api_recovers_by_itself_when_postgresql_returns(
    client: FlaskClient, engine: Engine
) -> None:
    name = make_url(str(engine.url)).database
    assert client.post("/v1/registrations", json=GOOD).status_code == 202
    engine.dispose()
    with admin() as connection:
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        down = client.post("/v1/registrations", json={**GOOD, "email": "bob@example.com"})
        assert down.status_code == 503
        assert client.get("/readyz").status_code == 503
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert client.get("/readyz").status_code == 200
    back = client.post("/v1/registrations", json={**GOOD, "email": "bob@example.com"})
    assert back.status_code == 202
    assert written(engine) == {"users": 2, "verification_tokens": 2, "outbox": 2}


def test_readyz_says_not_ready_before_migrations(tmp_path: Path) -> None:
    client = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/empty.db", "SECRET_KEY": SECRET_KEY}
    ).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "schema" in response.get_json()["detail"]


def test_readyz_logs_nothing_when_ready(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert [record.getMessage() for record in caplog.records] == []


def test_unknown_delivery_ids_are_404_problems(client: FlaskClient) -> None:
    for delivery_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "1"):
        response = client.get(f"/v1/deliveries/{delivery_id}")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


# DATABASE_TIMEOUT in the lock tests, and how long the lock is held: past it, a request that
# waits for the lock (no bound) would be answered 202 after all.
LOCK_TIMEOUT = 1.0
LOCK_HELD = LOCK_TIMEOUT + 3


@contextmanager
def write_lock_held(database_url: str) -> Iterator[Callable[[], int]]:
    """Another connection holds what a registration must write (SQLite: the database's write
    lock; PostgreSQL: the users table) for LOCK_HELD seconds; yields how many of the server's
    backends wait for a lock (0 on SQLite)."""
    if database_url.startswith("sqlite"):
        lite = sqlite3.connect(
            make_url(database_url).database or "", isolation_level=None, check_same_thread=False
        )
        lite.execute("BEGIN IMMEDIATE")
        release = threading.Timer(LOCK_HELD, lite.rollback)
        release.start()
        try:
            yield lambda: 0
        finally:
            release.join()
            lite.close()
        return
    with psycopg.connect(libpq_url(database_url)) as holder:
        holder.execute("LOCK TABLE users IN EXCLUSIVE MODE")
        release = threading.Timer(LOCK_HELD, holder.rollback)
        release.start()
        try:
            yield lambda: _waiting_for_locks(make_url(database_url).database)
        finally:
            release.join()


def _waiting_for_locks(database: str | None) -> int:
    """How many backends of `database` wait for a lock."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    )
    with admin() as connection:
        row = connection.execute(waiting, (database,)).fetchone()
    return int(row[0]) if row else 0


def test_a_registration_waiting_for_a_lock_is_a_503_within_database_timeout(
    env: dict[str, str], database_url: str, engine: Engine
) -> None:
    client = create_app({**env, "DATABASE_TIMEOUT": str(LOCK_TIMEOUT)}).test_client()
    with write_lock_held(database_url) as waiting_backends:
        started = time.monotonic()
        response = client.post("/v1/registrations", json=GOOD)
        seconds = time.monotonic() - started
        assert (response.status_code, response.mimetype) == (503, "application/problem+json")
        assert response.headers["Retry-After"]
        # The hash (beside the statements on PostgreSQL, before them on SQLite) and a busy core.
        assert seconds < LOCK_TIMEOUT + 0.7, seconds
        assert waiting_backends() == 0, "the wait was cancelled on the server too"
    assert written(engine) == {"users": 0, "verification_tokens": 0, "outbox": 0}
    assert _goes_through_once_unlocked(client)


def _goes_through_once_unlocked(client: FlaskClient) -> bool:
    """Whether a registration goes through with the lock gone. On a loaded machine one may
    outlast the DATABASE_TIMEOUT it is given: such a 503 took the whole bound, where one the
    cancelled wait had broken (a dead pooled connection) would fail at once."""
    for _ in range(5):
        started = time.monotonic()
        status = client.post("/v1/registrations", json=GOOD).status_code
        if status == 202:
            return True
        assert (status, time.monotonic() - started >= LOCK_TIMEOUT) == (503, True)
    return False
