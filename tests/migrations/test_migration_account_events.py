"""Revision 0024 (an account's history) on a populated database: accounts, pending messages and
dead letters survive and still work, and an account made before it gains a history from its
next sign-in; the downgrade drops the history and keeps every other row."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.accounts.history import AccountEvent
from shared.database.db import alembic_config
from support.bulk import dead_one, queue_one
from support.constants import ADMIN_TOKEN, PASSWORD
from support.rows import indexes, on_common_columns, rows
from support.smtp_sink import SinkServer, code_in

ADA = "ada@example.com"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TABLE = "account_events"


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_0024_adds_the_history_and_keeps_every_row(
    database_url: str, engine: Engine, admin: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0023")
    assert TABLE not in _tables(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                # An account that proved its address (revision 0021's column): an unproven one
                # signs in to nothing, so a wrong password names no account (revision 0027).
                "INSERT INTO users (email, password_hash, locale, status, created_at,"
                " email_proven_at)"
                " VALUES (:email, 'x', 'en', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"email": "old@example.com"},
        )
    dead = dead_one(engine, "dead@example.com")
    pending = queue_one(engine, "later@example.com")

    command.upgrade(config, "head")
    # A query first: SQLite's PRAGMAs read a pooled connection's schema as it last loaded it.
    assert TABLE in _tables(engine)
    assert {"account_events_user_id", "account_events_at"} <= indexes(engine, TABLE)
    assert rows(engine, TABLE) == []
    statuses = {r["public_id"]: r["status"] for r in rows(engine, "outbox")}
    assert statuses == {dead: "dead", pending: "pending"}
    assert relay.drain() == 1
    retried = admin.post(f"/v1/admin/dead-letters/{dead}/retry", headers=AUTH)
    assert retried.status_code == 200
    [old] = [r["id"] for r in rows(engine, "users")]
    wrong = {"email": "old@example.com", "password": "not the password at all"}
    assert admin.post("/v1/logins", json=wrong).status_code == 401
    events = admin.get(f"/v1/admin/accounts/{old}/events", headers=AUTH).get_json()
    assert [item["type"] for item in events["items"]] == [AccountEvent.LOGIN_FAILED]
    body = {"email": ADA, "password": PASSWORD}
    assert admin.post("/v1/registrations", json=body).status_code == 202
    relay.drain()
    [mail] = [m for m in smtp.sink.received if str(m["To"]) == ADA]
    activation = {"email": ADA, "code": code_in(mail)}
    assert admin.post("/v1/activations", json=activation).status_code == 200
    assert len(rows(engine, TABLE)) == 3
    before = rows(engine, "outbox")

    command.downgrade(config, "0023")
    assert TABLE not in _tables(engine)
    after, before = on_common_columns(rows(engine, "outbox"), before)
    assert after == before
    assert {r["email"] for r in rows(engine, "users")} == {"old@example.com", ADA}
    command.upgrade(config, "head")
    assert rows(engine, TABLE) == []
