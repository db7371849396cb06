"""Upgrading a populated database from the previous head: rows, pending messages and dead
letters survive and still work; and the downgrade back."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.accounts.accounts import insert_user
from shared.accounts.verification import issue_code
from shared.clock import utcnow
from shared.database import db
from shared.database.db import MIGRATIONS_DIR, alembic_config, schema_behind
from shared.messaging.suppressions import Suppressor
from shared.secrets.secretbox import SecretBox
from support.constants import SECRET_KEY, MakeRelay
from support.early_rows import OUTBOX_0005, early_row
from support.rows import rows
from support.smtp_sink import SinkServer, code_in
from support.sns import PROVIDER_ID, post_sns, sent_activation, ses


def test_0006_upgrades_a_populated_database_and_its_rows_still_deliver(
    database_url: str, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0005")
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OUTBOX_0005),
            [
                early_row("welcome1", "welcome", "pending"),
                early_row(
                    "reset1",
                    "password_reset",
                    "pending",
                    expires_at=utcnow() + timedelta(1),
                    secret_params=SecretBox(SECRET_KEY).seal({"code": "123456"}),
                ),
                early_row(
                    "dead1",
                    "welcome",
                    "dead",
                    attempts=8,
                    dead_reason="max_attempts",
                    last_error="SMTP 451 try later",
                ),
                early_row("sent1", "welcome", "sent", attempts=1),
            ],
        )
    command.upgrade(config, "head")

    by_id = {r["public_id"]: r for r in rows(engine, "outbox")}
    assert {k: r["priority"] for k, r in by_id.items()} == {
        "welcome1": 1,
        "reset1": 0,
        "dead1": 1,
        "sent1": 1,
    }
    # The pending notice got its horizon: NOTICE_TTL (one day) after it was written.
    welcome = by_id["welcome1"]
    assert welcome["expires_at"] - welcome["created_at"] == timedelta(days=1)
    assert by_id["sent1"]["expires_at"] is None
    with engine.connect() as connection:
        dead = connection.execute(
            sa.text("SELECT public_id, dead_reason FROM outbox_dead_letters")
        ).all()
    assert [tuple(d) for d in dead] == [("dead1", "max_attempts")]

    # What was pending before the upgrade is delivered after it.
    assert make_relay().drain() == 2
    received = smtp.sink.wait_for(2)
    assert {str(m["To"]) for m in received} == {"reset1@example.com", "welcome1@example.com"}

    command.downgrade(config, "0005")
    with engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("outbox")}
        assert "priority" not in columns
        count = connection.execute(sa.text("SELECT count(*) FROM outbox_dead_letters"))
        assert count.scalar_one() == 1
    command.upgrade(config, "head")


def test_every_upgrade_and_downgrade_keeps_the_delivery_history(
    database_url: str, engine: Engine
) -> None:
    """Batch migrations rebuild the outbox on SQLite: dropping the old table must not take the
    attempts that reference it along (ON DELETE CASCADE under foreign_keys=ON)."""
    config = alembic_config(database_url)
    command.downgrade(config, "0005")
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OUTBOX_0005),
            [early_row("dead1", "welcome", "dead", attempts=1, dead_reason="max_attempts")],
        )
        [outbox_id] = connection.execute(sa.text("SELECT id FROM outbox")).scalars()
        connection.execute(
            sa.text(
                "INSERT INTO outbox_attempts (outbox_id, attempted_at, outcome, error, "
                "duration_ms) VALUES (:id, :at, 'transient', 'SMTP 451', 12)"
            ),
            {"id": outbox_id, "at": utcnow()},
        )
    command.upgrade(config, "head")
    assert [a["error"] for a in rows(engine, "outbox_attempts")] == ["SMTP 451"]
    command.downgrade(config, "0005")
    assert [a["error"] for a in rows(engine, "outbox_attempts")] == ["SMTP 451"]
    command.upgrade(config, "head")


def test_0009_normalises_stored_addresses_and_reports_what_it_cannot(
    database_url: str,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0008")
    accounts = [
        ("Ada@Bücher.example", None),  # becomes ada@xn--bcher-kva.example
        ("bob@xn--bcher-kva.example", None),  # already normal
        ("Bob@bücher.example", None),  # normal form taken by the account above
        ("用户@example.com", "+33142685300"),  # neither can ever be delivered to
        (None, "+33612345678"),  # already normal
    ]
    with engine.begin() as connection:
        for email, phone in accounts:
            connection.execute(
                sa.text(
                    "INSERT INTO users (email, phone, password_hash, locale, status, created_at) "
                    "VALUES (:email, :phone, '!', 'en', 'pending', :now)"
                ),
                {"email": email, "phone": phone, "now": utcnow()},
            )
        connection.execute(
            sa.insert(OUTBOX_0005),
            [
                early_row("idn1", "welcome", "pending", recipient="Ada@Bücher.example"),
                early_row("idn2", "welcome", "sent", recipient="Ada@Bücher.example"),
            ],
        )
    with caplog.at_level(logging.WARNING, logger="outpost.migrations"):
        command.upgrade(config, "head")

    stored = {(u["email"], u["phone"]) for u in rows(engine, "users")}
    assert stored == {
        ("ada@xn--bcher-kva.example", None),
        ("bob@xn--bcher-kva.example", None),
        ("Bob@bücher.example", None),
        ("用户@example.com", "+33142685300"),
        (None, "+33612345678"),
    }
    reports = [r.getMessage() for r in caplog.records if r.name == "outpost.migrations"]
    assert len(reports) == 3, reports
    assert any("'Bob@bücher.example'" in r and "belongs to user" in r for r in reports)
    assert any("'用户@example.com'" in r for r in reports)
    assert any("'+33142685300'" in r and "fixed line" in r for r in reports)
    recipients = {r["public_id"]: r["recipient"] for r in rows(engine, "outbox")}
    assert recipients == {"idn1": "ada@xn--bcher-kva.example", "idn2": "Ada@Bücher.example"}
    # The pending message, once undeliverable, now leaves.
    assert make_relay().drain() == 1
    assert [str(m["To"]) for m in smtp.sink.wait_for(1)] == ["ada@xn--bcher-kva.example"]

    command.downgrade(config, "0008")
    command.upgrade(config, "head")


def test_0010_keeps_rows_queued_before_it_meeting_the_suppression_list(
    database_url: str, engine: Engine, client: FlaskClient, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0009")
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OUTBOX_0005),
            [
                early_row("old1", "welcome", "pending"),
                early_row("old2", "welcome", "pending"),
                early_row("dead1", "welcome", "dead", attempts=8, dead_reason="max_attempts"),
            ],
        )
        Suppressor.under(SECRET_KEY).add(
            connection, "old2@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
    command.upgrade(config, "head")
    assert [r["recipient_hash"] for r in rows(engine, "outbox")] == [None] * 3

    # A message queued now keeps its recipient's hash; one queued before is checked as it was.
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    by_id = {r["recipient"]: r for r in rows(engine, "outbox")}
    assert by_id["ada@example.com"]["recipient_hash"] == Suppressor.under(SECRET_KEY).hash(
        "ada@example.com"
    )
    assert make_relay().drain() == 3
    assert {str(m["To"]) for m in smtp.sink.wait_for(2)} == {
        "old1@example.com",
        "ada@example.com",
    }
    by_id = {r["public_id"]: r for r in rows(engine, "outbox")}
    assert (by_id["old2"]["status"], by_id["old2"]["dead_reason"]) == ("dead", "suppressed")

    command.downgrade(config, "0009")
    with engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("outbox")}
        assert "recipient_hash" not in columns
        dead = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters")).scalars()
        assert sorted(dead) == ["dead1", "old2"]
    command.upgrade(config, "head")


def test_a_schema_is_behind_when_older_and_not_when_newer_than_the_code(engine: Engine) -> None:
    """A relay waits for migrations it needs, but one of the previous release keeps working
    while an upgrade has already migrated the database (a revision it does not know)."""
    assert not schema_behind(engine)
    for revision, behind in (("0001", True), ("f0f0f0f0f0f0", False)):
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
            )
        assert schema_behind(engine) is behind


def test_the_revisions_read_from_file_names_are_alembics() -> None:
    """A process reads its revisions from the version files' names, not through alembic: each
    file's name starts with its revision, and the history is one line ending at the newest."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert db._known_revisions() == {r.revision for r in script.walk_revisions()}
    assert db._head_revision() == script.get_current_head()
    assert len(script.get_heads()) == 1


def test_0011_remembers_notifications_in_a_database_upgraded_with_its_messages(
    database_url: str, engine: Engine, api: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    """A message sent before the upgrade still takes its provider's events after it, and a
    notification posted twice records one; the downgrade keeps the events."""
    config = alembic_config(database_url)
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    command.downgrade(config, "0010")
    command.upgrade(config, "head")

    bounce = ses("bounce_transient", provider_id=PROVIDER_ID, recipient="jane@example.com")
    answers = [post_sns(api, bounce).get_json() for _ in range(2)]
    assert answers == [{"accepted": 1, "unknown": 0}, {"accepted": 0, "unknown": 0}]
    assert [e["type"] for e in rows(engine, "provider_events")] == ["bounce"]

    command.downgrade(config, "0010")
    with engine.connect() as connection:
        assert "provider_notifications" not in sa.inspect(connection).get_table_names()
    assert [e["type"] for e in rows(engine, "provider_events")] == ["bounce"]
    command.upgrade(config, "head")
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_0012_lets_the_first_process_with_a_key_record_it_in_a_populated_database(
    database_url: str, env: dict[str, str], engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """A code and a message sealed before the upgrade still work after it, and an erased
    suppression still applies: the list's key the API records is the one it hashed with."""
    config = alembic_config(database_url)
    command.downgrade(config, "0011")
    now = utcnow()
    with engine.begin() as connection:
        user_id = insert_user(
            connection, now, email="ada@example.com", password_hash="x", locale="en"
        )
        assert user_id is not None
        issued = issue_code(
            connection, SECRET_KEY, user_id=user_id, purpose="activation", ttl=3600, now=now
        )
        sealed = SecretBox(SECRET_KEY).seal({"code": issued.code})
        connection.execute(
            sa.insert(OUTBOX_0005),
            [
                early_row(
                    "ada",
                    "activation",
                    "pending",
                    expires_at=issued.expires_at,
                    secret_params=sealed,
                ),
                early_row("erased", "welcome", "pending", expires_at=now + timedelta(1)),
                early_row("dead1", "welcome", "dead", attempts=8, dead_reason="max_attempts"),
            ],
        )
        suppressor = Suppressor.under(SECRET_KEY)
        suppressor.add(connection, "erased@example.com", reason="complaint", source="ses", now=now)
        suppressor.forget_address(connection, "erased@example.com")
    command.upgrade(config, "head")
    assert _keyring(engine) == {}

    app = create_app(env)
    try:
        recorded = _keyring(engine)
        assert set(recorded) == {"check", "suppression"}
        assert not any(SECRET_KEY in value for value in recorded.values())
        assert make_relay().drain() == 2
        [mail] = smtp.sink.wait_for(1)
        body = {"email": "ada@example.com", "code": code_in(mail)}
        assert app.test_client().post("/v1/activations", json=body).status_code == 200
    finally:
        app.extensions["outpost"].engine.dispose()
    by_id = {r["public_id"]: r for r in rows(engine, "outbox")}
    assert (by_id["erased"]["status"], by_id["erased"]["dead_reason"]) == ("dead", "suppressed")

    command.downgrade(config, "0011")
    with engine.connect() as connection:
        assert "keyring" not in sa.inspect(connection).get_table_names()
        dead = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters")).scalars()
        assert sorted(dead) == ["dead1", "erased"]
    command.upgrade(config, "head")


def _keyring(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        query = sa.text("SELECT name, value FROM keyring")
        return {name: value for name, value in connection.execute(query)}
