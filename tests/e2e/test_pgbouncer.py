"""The API and the relay through PgBouncer in transaction pooling mode: no session state on
pooled connections, LISTEN on a direct one (RELAY_LISTEN_URL) or polling (`none`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shared.database.db import create_engine_for
from support import pgbouncer, processes
from support.rows import rows
from support.smtp_sink import SinkServer

pytestmark = pytest.mark.postgresql_only

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def bouncer() -> Iterator[pgbouncer.PgBouncer]:
    if not pgbouncer.available():
        pytest.fail("pgbouncer is missing: apt-get install pgbouncer")
    with pgbouncer.PgBouncer() as running:
        yield running


def test_automatic_prepared_statements_break_behind_the_pooler_and_are_off_with_the_setting(
    bouncer: pgbouncer.PgBouncer, database_url: str
) -> None:
    """Why DATABASE_POOLER exists: psycopg prepares a statement run often enough, and the
    pooler then sends its next run to a server connection that never saw it."""
    pooled = bouncer.url_of(database_url)
    failures = 0
    for transaction_pooler in (False, True):
        engine = create_engine_for(pooled, transaction_pooler=transaction_pooler, pool_size=4)
        try:
            for n in range(40):
                with engine.connect() as a, engine.connect() as b:
                    for connection in (a, b):
                        with connection.begin():
                            connection.execute(
                                text("SELECT count(*) FROM outbox WHERE id > :n"), {"n": n}
                            )
        except DBAPIError as exc:
            assert not transaction_pooler, exc
            assert isinstance(
                exc.orig,
                psycopg.errors.DuplicatePreparedStatement | psycopg.errors.InvalidSqlStatementName,
            )
            failures += 1
        finally:
            engine.dispose()
    assert failures == 1, "without the setting, prepared statements should have broken"


@pytest.mark.parametrize("listen", ["direct", "none"])
def test_registrations_through_the_pooler_are_delivered(
    bouncer: pgbouncer.PgBouncer,
    env: dict[str, str],
    database_url: str,
    smtp: SinkServer,
    engine: Engine,
    tmp_path: Path,
    listen: str,
) -> None:
    pooled = {
        **env,
        "DATABASE_URL": bouncer.url_of(database_url),
        "DATABASE_POOLER": "transaction",
        "RELAY_LISTEN_URL": database_url if listen == "direct" else "none",
    }
    with processes.api_and_relay(pooled, tmp_path) as api:
        for n in range(20):
            status, _, _ = processes.post_json(
                f"{api}/v1/registrations", {"email": f"u{n}@example.com", "password": PASSWORD}
            )
            assert status == 202
        smtp.sink.wait_for(20, timeout=20)
        processes.eventually(
            lambda: {r["status"] for r in rows(engine, "outbox")} == {"sent"}, what="all sent"
        )
    log = (tmp_path / "relay.log").read_text()
    assert ("listening for new messages" in log) == (listen == "direct")
    assert "prepared statement" not in log + (tmp_path / "gunicorn.log").read_text()
