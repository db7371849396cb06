"""After a lost key (docs/install.md, "A lost SECRET_KEY"), the messages sealed under it come
back to the relay each lease until their horizon: it says so once a message, naming it, not at
every lease (a day's horizon made 1,440 error lines a message)."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from shared.clock import utcnow
from shared.database.models import outbox
from support.constants import MakeRelay
from support.rows import rows

NEW = "the-new-secret-key-9876543210fedcba"
SAID = "secrets sealed under a key this relay does not hold"


def test_each_message_sealed_under_a_lost_key_is_said_once(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, caplog: pytest.LogCaptureFixture
) -> None:
    for email in ("ada@example.com", "bob@example.com"):
        answer = client.post("/v1/registrations", json={"email": email, "password": "pw" * 8})
        assert answer.status_code == 202
    relay = make_relay(secret_key=NEW, secret_key_fallbacks=())
    with caplog.at_level(logging.INFO):
        for _lease in range(3):
            with engine.begin() as connection:
                connection.execute(update(outbox).values(next_attempt_at=utcnow()))
            assert relay.drain() == 2
    told = [r for r in caplog.records if r.getMessage().startswith(SAID)]
    assert sorted(r.id for r in told) == sorted(r["public_id"] for r in rows(engine, "outbox"))
    assert {r.levelno for r in told} == {logging.ERROR}
    assert [(r["status"], r["attempts"]) for r in rows(engine, "outbox")] == [("pending", 0)] * 2
