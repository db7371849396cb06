"""The suppression list as the relay keeps it: an address refused as unknown (5.1.x) is
suppressed, and later messages to it end dead/suppressed without contacting the provider."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.messaging.suppressions import Suppressor, listed
from support.bulk import queue_emails
from support.constants import PASSWORD, SECRET_KEY
from support.rows import rows
from support.smtp_sink import SinkServer


def by_recipient(engine: Engine) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for row in rows(engine, "outbox"):
        found.setdefault(str(row["recipient"]), []).append(row)
    return found


def test_a_5_1_x_refusal_suppresses_the_address_and_later_messages_die_unsent(
    engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:550 5.1.1"
    queue_emails(engine, 1, prefix="gone")
    relay.drain()
    [first] = rows(engine, "outbox")
    assert (first["status"], first["dead_reason"]) == ("dead", "permanent_error")
    with engine.connect() as connection:
        [entry] = listed(connection)
    assert (entry.address, entry.reason, entry.source) == ("gone0@example.com", "rejected", "smtp")

    smtp.sink.mode = "accept"
    tried = len(smtp.sink.data_commands)
    connections = smtp.sink.connections
    queue_emails(engine, 1, prefix="gone")
    queue_emails(engine, 1, prefix="fine")
    statements: list[str] = []
    event.listen(relay.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    relay.drain()
    # The claim itself read the list: no query of its own asked it.
    assert not [s for s in statements if s.lstrip().startswith("SELECT suppressions")]
    found = by_recipient(engine)
    later = found["gone0@example.com"][1]
    assert (later["status"], later["dead_reason"], later["attempts"]) == ("dead", "suppressed", 0)
    assert found["fine0@example.com"][0]["status"] == "sent"
    assert len(smtp.sink.data_commands) == tried + 1, "the suppressed message was not sent"
    assert [str(m["To"]) for m in smtp.sink.received] == ["fine0@example.com"]
    assert smtp.sink.connections <= connections + 1
    attempts = [a for a in rows(engine, "outbox_attempts") if a["outbox_id"] == later["id"]]
    assert attempts == [], "a suppressed message made no delivery try"


def test_removal_lets_the_next_message_through(
    engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    suppressor = Suppressor.under(SECRET_KEY)
    with engine.begin() as connection:
        suppressor.add(
            connection, "back0@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
        suppressor.add(
            connection, "back0@example.com", reason="complaint", source="ses", now=utcnow()
        )
    with engine.begin() as connection:
        assert suppressor.remove(connection, ["back0@example.com", "never@example.com"]) == [
            "back0@example.com"
        ]
    queue_emails(engine, 1, prefix="back")
    relay.drain()
    assert [r["status"] for r in rows(engine, "outbox")] == ["sent"]


def test_the_provider_id_of_a_sent_message_is_kept(
    engine: Engine, relay: Relay, smtp: SinkServer, client: FlaskClient
) -> None:
    smtp.sink.accepted = "250 Ok 0100018c7f3b2a1e-5d6c7b8a-0000-000000"
    queue_emails(engine, 1)
    relay.drain()
    [row] = rows(engine, "outbox")
    assert row["provider_message_id"] == "0100018c7f3b2a1e-5d6c7b8a-0000-000000"
    smtp.sink.accepted = "250 Message accepted"
    queue_emails(engine, 1, prefix="plain")
    relay.drain()
    assert rows(engine, "outbox")[1]["provider_message_id"] is None


def test_the_api_makes_one_suppressor_on_first_use_and_hashes_with_the_lists_key(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    deps = app.extensions["outpost"]
    for address in ("one@example.com", "two@example.com"):
        response = client.post("/v1/registrations", json={"email": address, "password": PASSWORD})
        assert response.status_code == 202
    with engine.connect() as connection:
        suppressor = deps.suppressor.of(connection)
        assert deps.suppressor.of(connection) is suppressor
        listed_hash = Suppressor.of(connection, (SECRET_KEY,)).hash("one@example.com")
    assert suppressor.hash("one@example.com") == listed_hash
    hashes = {r["recipient"]: r["recipient_hash"] for r in rows(engine, "outbox")}
    assert hashes == {a: suppressor.hash(a) for a in ("one@example.com", "two@example.com")}
