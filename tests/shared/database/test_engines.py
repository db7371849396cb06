"""Pooled PostgreSQL connections: pinged after sitting idle, handed out at once when just used."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from shared.database import connection_events
from support.databases import admin

pytestmark = pytest.mark.postgresql_only


def last_query(pid: int) -> str:
    """What the backend `pid` last ran, as the server reports it."""
    with admin() as connection:
        row = connection.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def used_once(engine: Engine) -> int:
    """Use a pooled connection and give it back; its backend's pid."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_just_used_is_handed_out_without_a_ping(engine: Engine) -> None:
    pid = used_once(engine)
    before = last_query(pid)
    with engine.connect():
        assert last_query(pid) == before != "SELECT 1"


def test_a_connection_idle_longer_is_pinged_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = used_once(engine)
    monkeypatch.setattr(connection_events, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect():
        assert last_query(pid) == "SELECT 1"


def test_an_idle_connection_the_server_dropped_is_replaced_unseen(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = used_once(engine)
    with admin() as connection:
        connection.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    monkeypatch.setattr(connection_events, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
