"""Statements run by psycopg (the relay's per message, the sign-up's): what SQLAlchemy would
read and count, its transaction, its errors, its events, and the kept connection's retry when
the server drops it."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, bindparam, event, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from outbox_relay import claims
from shared.clock import utcnow
from shared.database.driver import DriverStatement, bound
from shared.database.models import outbox, throttle_events
from support.bulk import queue_emails
from support.databases import admin

pytestmark = pytest.mark.postgresql_only

# Every column a claim returns, read back by the row's id.
_RETURNING = update(outbox).values(attempts=outbox.c.attempts).returning(*outbox.c)


def _autocommit(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _backend(connection: Connection) -> int:
    """The server process of the connection's session."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return int(driver.info.backend_pid)


def _kill(backend: int) -> None:
    """End a session as a restart or a failover would."""
    with closing(admin()) as server:
        server.execute("SELECT pg_terminate_backend(%s)", [backend])


def test_rows_read_as_sqlalchemy_reads_them(engine: Engine) -> None:
    """Aware UTC datetimes (whatever the session's zone), JSON decoded, NULLs, every column by
    name: what SQLAlchemy's own execution of the same statement gives."""
    queue_emails(engine, 2, purpose="activation")
    statement = DriverStatement(_RETURNING)
    with closing(_autocommit(engine)) as connection:
        connection.exec_driver_sql("SET TIME ZONE 'Europe/Paris'")
        by_driver = statement.rows(connection, {})
        by_sqlalchemy = [dict(row) for row in connection.execute(_RETURNING).mappings()]
    assert by_driver == by_sqlalchemy and len(by_driver) == 2
    [first, _] = by_driver
    assert first["created_at"].tzinfo is not None
    assert first["created_at"].utcoffset() == timedelta(0)
    assert first["params"] == {"expires_minutes": 60}
    assert first["locked_until"] is None


def test_values_are_bound_through_the_types(engine: Engine, claimer: claims.Claimer) -> None:
    """A `now` in another zone is bound as UtcDateTime binds it, and the lease it writes reads
    back as the same instant, in UTC."""
    queue_emails(engine, 1)
    now = utcnow().astimezone(timezone(timedelta(hours=2)))
    [row] = claimer.claim(now=now, limit=10, lease_seconds=60)
    assert row.locked_until == now + timedelta(seconds=60)
    assert row.locked_until.utcoffset() == timedelta(0)


def test_an_error_is_sqlalchemys_and_the_connection_goes_on(engine: Engine) -> None:
    queue_emails(engine, 2)
    with engine.connect() as connection:
        ids = list(connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars())
    clash = DriverStatement(
        update(outbox)
        .where(outbox.c.id == ids[1])
        .values(public_id=select(outbox.c.public_id).where(outbox.c.id == ids[0]).scalar_subquery())
        .returning(outbox.c.id)
    )
    with closing(_autocommit(engine)) as connection:
        with pytest.raises(IntegrityError) as raised:
            clash.rows(connection, {})
        assert not raised.value.connection_invalidated
        assert len(DriverStatement(_RETURNING).rows(connection, {})) == 2


def test_a_dropped_connection_is_invalidated_and_the_claim_retried(
    engine: Engine, claimer: claims.Claimer
) -> None:
    """The server ends the kept connection's session (a restart, a failover): the error says
    the connection is invalidated, and the claim runs again on a new one."""
    queue_emails(engine, 2)
    now = utcnow()
    assert len(claimer.claim(now=now, limit=1, lease_seconds=60)) == 1
    backend = claimer.run(_backend)
    _kill(backend)
    [again] = claimer.claim(now=now, limit=1, lease_seconds=60)
    assert again.recipient.startswith("user")
    assert claimer.run(_backend) != backend

    lost = DriverStatement(_RETURNING)
    with closing(_autocommit(engine)) as connection:
        _kill(_backend(connection))
        with pytest.raises(DBAPIError) as raised:
            lost.rows(connection, {})
        assert raised.value.connection_invalidated
        assert connection.invalidated


def _heard(engine: Engine) -> list[tuple[str, object]]:
    """Each statement the engine's cursor listeners hear, with its SQLAlchemy execution
    context (None: psycopg ran it, not SQLAlchemy's execution)."""
    heard: list[tuple[str, object]] = []
    event.listen(
        engine, "before_cursor_execute", lambda *args: heard.append((args[2].split()[0], args[4]))
    )
    return heard


@pytest.mark.parametrize("paused", [[], ["webhook", "sms"]], ids=["none-paused", "sms-paused"])
def test_a_claim_is_psycopgs_and_its_listeners_hear_it(
    engine: Engine, claimer: claims.Claimer, paused: list[str]
) -> None:
    """A tracer hooked on the engine's cursor events sees the claim; a relay without an SMS
    provider, which skips `sms` on every claim, expands no list and runs it by psycopg too."""
    queue_emails(engine, 1)
    heard = _heard(engine)
    [row] = claimer.claim(now=utcnow(), limit=10, lease_seconds=60, paused=paused)
    assert row.channel == "email"
    assert heard == [("UPDATE", None)]


def test_a_statement_that_expands_a_list_is_sqlalchemys_to_run(engine: Engine) -> None:
    queue_emails(engine, 2)
    statement = DriverStatement(
        update(outbox)
        .where(outbox.c.recipient.in_(bindparam("to", expanding=True)))
        .values(attempts=outbox.c.attempts)
        .returning(outbox.c.recipient)
    )
    heard = _heard(engine)
    with closing(_autocommit(engine)) as connection:
        found = statement.rows(connection, {"to": ["user0@example.com", "user1@example.com"]})
    assert sorted(row["recipient"] for row in found) == ["user0@example.com", "user1@example.com"]
    [(verb, context)] = heard
    assert verb == "UPDATE" and context is not None


def test_a_statement_begins_sqlalchemys_transaction_so_its_commit_commits_it(
    engine: Engine,
) -> None:
    """Run first on a connection, it begins the transaction as a statement SQLAlchemy ran
    would: the connection's commit then commits it (else its close rolled it back)."""
    record = DriverStatement(insert(throttle_events).values(bound(throttle_events, ["key", "at"])))
    with engine.connect() as connection:
        assert not connection.in_transaction()
        assert record.run(connection, {"key": "k", "at": utcnow()}) == 1
        assert connection.in_transaction()
        connection.commit()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(throttle_events)).scalar() == 1


def test_run_counts_the_rows_written_and_binds_a_text_statements_values(engine: Engine) -> None:
    queue_emails(engine, 3)
    touch = DriverStatement(
        update(outbox).where(outbox.c.id > bindparam("above")).values(attempts=outbox.c.attempts)
    )
    lock = DriverStatement(text("SELECT pg_try_advisory_xact_lock(:id)"))
    with engine.begin() as connection:
        first = connection.execute(select(func.min(outbox.c.id))).scalar_one()
        assert touch.run(connection, {"above": first}) == 2
        assert lock.run(connection, {"id": 4242}) == 1
        held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242")
        assert connection.execute(held).scalar_one() == 1


def test_a_sign_ups_statements_are_psycopgs(app: Flask, engine: Engine) -> None:
    """Every statement of a registration, the address's and the client's limits included,
    runs by psycopg: none is left to SQLAlchemy's execution (past the first, which reads the
    keyring once)."""
    client = app.test_client()
    body = {"email": "first@example.com", "password": "correct horse battery"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    heard = _heard(app.extensions["outpost"].engine)
    body = {"email": "someone@example.com", "password": "correct horse battery"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    # The pending account's hash (read before the hash: SPEC "Proof of address"), then the
    # registration's own; its history's event rides with the hash (shared.database.throttle.Along).
    assert len(heard) == 7
    assert [verb for verb, context in heard if context is not None] == []
