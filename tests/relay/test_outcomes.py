"""Outcomes are the truth: what happens to a row while the relay holds it, between the
provider's answer and the relay's record of it, never hides a delivery or a bounce."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.reports.provider_events import public_id_of
from support.constants import ADMIN_TOKEN
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
TOKEN = "provider-events-token-0123456789"


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[FlaskClient]:
    """The API taking providers' events, with the admin routes on."""
    app: Flask = create_app({**env, "PROVIDER_EVENTS_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


def register(api: FlaskClient, email: str) -> str:
    """Sign `email` up; the id of its activation's delivery."""
    response = api.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def on_arrival_of(
    smtp: SinkServer, deliveries: set[str], act: Callable[[EmailMessage], None]
) -> None:
    """Have the SMTP server `act` on each of `deliveries` as it arrives, before its 250."""

    def arrived(mail: EmailMessage) -> None:
        if public_id_of(str(mail["Message-ID"])) in deliveries:
            act(mail)

    smtp.sink.on_arrival = arrived


def activate(api: FlaskClient, mail: EmailMessage) -> None:
    """Activate the account with the code `mail` carries, as its reader would."""
    answer = api.post("/v1/activations", json={"email": mail["To"], "code": code_in(mail)})
    assert answer.status_code == 200


def row_of(engine: Engine, delivery_id: str) -> dict[str, object]:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == delivery_id]
    return row


def attempts_of(engine: Engine, delivery_id: str) -> list[str]:
    row_id = row_of(engine, delivery_id)["id"]
    return [a["outcome"] for a in rows(engine, "outbox_attempts") if a["outbox_id"] == row_id]


def test_an_activation_while_the_relay_holds_its_mail_leaves_the_delivery_sent(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    deliveries: dict[str, str] = {}
    cancelled_in_flight: list[str] = []

    def activate_noting_status(mail: EmailMessage) -> None:
        activate(api, mail)
        delivery_id = public_id_of(str(mail["Message-ID"]))
        assert delivery_id is not None
        if row_of(engine, delivery_id)["status"] == "cancelled":
            cancelled_in_flight.append(delivery_id)

    for n in range(20):
        delivery_id = register(api, f"quick{n}@example.com")
        deliveries[delivery_id] = f"quick{n}@example.com"
        on_arrival_of(smtp, set(deliveries), activate_noting_status)
        relay.drain()
    assert sorted(cancelled_in_flight) == sorted(deliveries), "the window was not hit"
    for delivery_id in deliveries:
        row = row_of(engine, delivery_id)
        assert (row["status"], row["attempts"], row["secret_params"]) == ("sent", 1, None)
        assert attempts_of(engine, delivery_id) == ["sent"]
        shown = api.get(f"/v1/deliveries/{delivery_id}").get_json()
        assert (shown["status"], shown["attempts"]) == ("sent", 1)
    # The code the mail carried stays spent.
    mail = smtp.sink.received[0]
    again = api.post("/v1/activations", json={"email": mail["To"], "code": code_in(mail)})
    assert again.status_code == 400


def test_a_failed_attempt_on_a_row_cancelled_meanwhile_leaves_it_cancelled(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = register(api, "later@example.com")
    smtp.sink.script = ["reply:451"]
    on_arrival_of(smtp, {delivery_id}, lambda mail: activate(api, mail))
    relay.deliver_due()
    relay.outcomes.flush()
    row = row_of(engine, delivery_id)
    assert (row["status"], row["attempts"]) == ("cancelled", 0)
    assert attempts_of(engine, delivery_id) == []


def test_a_bounce_reported_before_the_relay_wrote_sent_ends_the_row_bounced(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = register(api, "gone@example.com")

    def bounce(mail: EmailMessage) -> None:
        event = {
            "type": "bounce",
            "message_id": str(mail["Message-ID"]),
            "recipient": "gone@example.com",
            "permanent": True,
            "diagnostic": "550 5.1.1 <gone@example.com>: user unknown",
        }
        answer = api.post(
            "/v1/provider-events",
            json={"events": [event]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.get_json() == {"accepted": 1, "unknown": 0}

    on_arrival_of(smtp, {delivery_id}, bounce)
    relay.drain()
    row = row_of(engine, delivery_id)
    assert (row["status"], row["attempts"], row["claim_token"]) == ("bounced", 1, None)
    assert attempts_of(engine, delivery_id) == ["sent"]
    shown = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (shown["status"], shown["reason"]) == ("failed", "address_rejected")
    assert [s["address"] for s in rows(engine, "suppressions")] == ["gone@example.com"]


def test_an_erasure_while_the_relay_holds_a_mail_records_it_sent_and_brings_nothing_back(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = register(api, "forget.me@example.com")
    [user] = rows(engine, "users")
    smtp.sink.accepted = "250 Ok 0100018c7f3b2a1e-provider-id"

    def erase(_mail: EmailMessage) -> None:
        answer = api.delete(
            f"/v1/admin/users/{user['id']}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert answer.status_code == 200

    on_arrival_of(smtp, {delivery_id}, erase)
    relay.drain()
    row = row_of(engine, delivery_id)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert (row["recipient"], row["params"], row["provider_message_id"]) == ("erased", {}, None)
    assert attempts_of(engine, delivery_id) == ["sent"]
    assert "forget.me" not in repr(rows(engine, "outbox") + rows(engine, "outbox_attempts"))
