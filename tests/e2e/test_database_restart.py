"""The relay process rides out a PostgreSQL restart mid-drain: nothing lost, nothing sent twice.

Outcomes the database could not take are written once it is back (their leases still hold),
and rows left untried meanwhile are handed back then, not when their lease lapses.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from shared.database.db import create_engine_for, migrate
from shared.database.models import outbox
from support import private_postgres, processes
from support.bulk import queue_emails
from support.constants import SECRET_KEY
from support.private_postgres import PrivatePostgres
from support.smtp_sink import SinkServer

MESSAGES = 1000
RESTART_AFTER = 150  # mid-way through the second batch, so rows are in flight at the restart


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of our own, which this test may stop and start."""
    if not private_postgres.available():
        pytest.fail(f"PostgreSQL 15's initdb and pg_ctl are needed in {private_postgres.BIN}")
    with PrivatePostgres() as server:
        yield server


def statuses(url: str) -> dict[str, int]:
    """How many outbox rows have each status, read on a fresh engine; {} if unreachable."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
            return {status: n for status, n in connection.execute(query).all()}
    except SQLAlchemyError:
        return {}
    finally:
        engine.dispose()


@pytest.mark.postgresql_only
def test_the_relay_recovers_by_itself_when_postgresql_restarts_mid_drain(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_pg.sqlalchemy_url
    migrate(url)
    engine = create_engine_for(url)
    try:
        public_ids = queue_emails(engine, MESSAGES)
    finally:
        engine.dispose()

    sink = SinkServer()
    sink.sink.delay = 0.005  # slow enough that the restart lands mid-drain
    sink.start()
    env = {
        "DATABASE_URL": private_pg.url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": sink.url(),
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "RELAY_POLL_INTERVAL": "0.2",
        "RELAY_BACKOFF_BASE": "0.001",
        "RELAY_BACKOFF_CAP": "0.002",
        "RELAY_METRICS_PORT": "0",
    }
    relay = processes.relay(env, tmp_path)
    log = tmp_path / "relay.log"

    def context() -> str:
        return (
            f"statuses={statuses(url)} received={len(sink.sink.received)}\n"
            f"--- relay.log ---\n{log.read_text(errors='replace')}"
        )

    try:
        sink.sink.wait_for(RESTART_AFTER, timeout=30)
        assert len(sink.sink.received) < MESSAGES, "the drain ended before the restart"
        private_pg.stop()
        time.sleep(1)
        private_pg.start()

        deadline = time.monotonic() + 120
        while statuses(url).get("sent", 0) < MESSAGES and time.monotonic() < deadline:
            assert relay.poll() is None, f"relay exited {relay.returncode}\n{context()}"
            time.sleep(0.5)
        counts = statuses(url)
        assert counts.get("dead", 0) == 0, context()
        assert counts == {"sent": MESSAGES}, context()

        received = Counter(str(message["Message-ID"]) for message in sink.sink.received)
        expected = {f"<{public_id}@outpost.test>" for public_id in public_ids}
        missing = expected - received.keys()
        assert not missing, f"{len(missing)} never received\n{context()}"
        assert received.keys() == expected, context()
        duplicates = sum(received.values()) - MESSAGES
        assert duplicates == 0, f"{duplicates} duplicates\n{context()}"
        assert "database unavailable" in log.read_text(), "the relay never saw the outage"
        assert relay.poll() is None, f"relay exited {relay.returncode}\n{context()}"
    finally:
        code = processes.stop(relay, signal.SIGTERM)
        sink.stop()
    assert code == 0, context()
