"""The relay against a real SMTP server: each reply ends the row as the spec says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from outbox_relay.compose import message_id
from outbox_relay.worker import Relay
from shared.clock import utcnow
from shared.config import Settings
from shared.db import create_engine_for
from shared.models import outbox
from tests.rows import rows
from tests.smtp_sink import SinkServer

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}


@pytest.fixture
def relay(settings: Settings) -> Iterator[Relay]:
    relay = Relay(settings, create_engine_for(settings.database_url))
    yield relay
    relay.close()
    relay.engine.dispose()


def queue(client: FlaskClient, **changes: str) -> str:
    response = client.post("/v1/registrations", json={**GOOD, **changes})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def the_row(engine: Engine) -> dict[str, object]:
    [row] = rows(engine, "outbox")
    return row


def attempts(engine: Engine) -> list[tuple[str, str | None]]:
    return [(a["outcome"], a["error"]) for a in rows(engine, "outbox_attempts")]


def make_due(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))


def test_250_marks_sent_wipes_secrets_and_carries_a_stable_message_id(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    delivery_id = queue(client)
    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["secret_params"]) == ("sent", 1, None)
    assert row["sent_at"] is not None and row["locked_until"] is None
    assert mail["Message-ID"] == message_id(delivery_id, relay.settings.mail_from)
    assert mail["To"] == "ada@example.com"
    assert attempts(engine) == [("sent", None)]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_451_is_transient_and_retried_with_the_same_message_id(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.script = ["reply:451"]
    queue(client)
    before = utcnow()
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["dead_reason"]) == ("pending", 1, None)
    assert "451" in str(row["last_error"])
    assert row["next_attempt_at"] >= before  # type: ignore[operator]
    assert row["secret_params"] is not None
    make_due(engine)
    relay.drain()
    assert the_row(engine)["status"] == "sent"
    first, second = smtp.sink.data_commands
    assert first["Message-ID"] == second["Message-ID"]
    assert [outcome for outcome, _ in attempts(engine)] == ["transient", "sent"]


def test_a_transient_failure_is_due_again_within_the_backoff_ceiling(
    client: FlaskClient, settings: Settings, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:421"
    relay = Relay(
        settings.replace(relay_backoff_base=600.0, relay_backoff_cap=600.0),
        create_engine_for(settings.database_url),
    )
    try:
        queue(client)
        before = utcnow()
        relay.drain()
    finally:
        relay.close()
    row = the_row(engine)
    assert (row["status"], row["locked_until"], row["claim_token"]) == ("pending", None, None)
    retry_at = row["next_attempt_at"]
    assert before <= retry_at <= utcnow() + timedelta(seconds=600)  # type: ignore[operator]


def test_550_is_permanent_and_dead_at_once(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:550"
    delivery_id = queue(client)
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "permanent_error", 1)
    assert "550" in str(row["last_error"])
    assert row["secret_params"] is None
    assert [outcome for outcome, _ in attempts(engine)] == ["permanent"]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


def test_a_hanging_server_times_out_as_transient(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.script = ["hang"]
    queue(client)
    started = time.monotonic()
    relay.drain()
    assert time.monotonic() - started < 10
    row = the_row(engine)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "timed out" in str(row["last_error"]).lower()
    make_due(engine)
    relay.drain()
    assert the_row(engine)["status"] == "sent"


def test_a_connection_dropped_after_data_is_transient(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.script = ["drop"]
    queue(client)
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "Disconnected" in str(row["last_error"])
    make_due(engine)
    relay.drain()
    assert the_row(engine)["status"] == "sent"
    assert len(smtp.sink.received) == 1


def test_max_attempts_of_transient_failures_is_dead(
    client: FlaskClient, settings: Settings, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:451"
    relay = Relay(settings.replace(relay_max_attempts=3), create_engine_for(settings.database_url))
    try:
        queue(client)
        for _ in range(3):
            make_due(engine)
            relay.drain()
    finally:
        relay.close()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "max_attempts", 3)
    assert [outcome for outcome, _ in attempts(engine)] == ["transient"] * 3


def test_an_expired_code_is_never_sent(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    delivery_id = queue(client)
    with engine.begin() as connection:
        connection.execute(update(outbox).values(expires_at=utcnow() - timedelta(seconds=1)))
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["secret_params"]) == ("dead", "expired", None)
    assert smtp.sink.data_commands == []
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "expired"


def test_one_connection_serves_many_messages(
    client: FlaskClient, settings: Settings, engine: Engine, smtp: SinkServer
) -> None:
    relay = Relay(settings.replace(relay_concurrency=1), create_engine_for(settings.database_url))
    try:
        for n in range(5):
            queue(client, email=f"user{n}@example.com")
        assert relay.drain() == 5
    finally:
        relay.close()
    assert len(smtp.sink.wait_for(5)) == 5
    assert smtp.sink.connections == 1


def test_the_mail_carries_the_code_in_text_and_html(
    client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    queue(client, locale="fr", full_name="Adélaïde")
    relay.drain()
    [mail] = smtp.sink.wait_for(1)
    assert mail["Content-Language"] == "fr"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Adélaïde" in text.get_content()
    codes = {w for w in text.get_content().split() if w.isdigit() and len(w) == 6}
    assert len(codes) == 1
    assert codes.pop() in html.get_content()
