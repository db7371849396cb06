"""The delaying proxy adds its delay to each round trip, counts them and names their statements."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from bench.common import delayed
from support.processes import eventually


@pytest.mark.postgresql_only
def test_each_round_trip_is_delayed_counted_and_traced(database_url: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    with delayed(database_url, 20, trace) as proxy:
        url = make_url(proxy.url)
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        ) as connection:
            time.sleep(0.3)  # the proxy writes its count every 0.1 s: the connection's own
            before = proxy.round_trips()
            started = time.perf_counter()
            for n in range(7):  # past psycopg's threshold: the last runs prepared
                connection.execute("SELECT %s::int + 1 AS traced", (n,)).fetchone()
            took = time.perf_counter() - started
            # Seven selects, and one more round trip where psycopg prepares the statement.
            eventually(lambda: proxy.round_trips() - before == 8, 5, "8 round trips counted")
            # Read while the connection is open: closing it sends one more message (Terminate),
            # traced too when the proxy gets to it first.
            lines = trace.read_text().splitlines()
    assert took >= 8 * 0.020
    assert lines[-8:] == ["SELECT $1::int + 1 AS traced"] * 8
