"""Webhook endpoints by event, through the admin API and the relay to real HTTP receivers: each
endpoint hears only of the events it lists, signed with its own secret (checked by the
Standard Webhooks reference library), and is retried and dead-lettered apart from the others;
`delivery.sent` for those that subscribe to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from standardwebhooks.webhooks import WebhookVerificationError

from api_service import create_app
from outbox_relay.relay import Relay
from shared.messaging.webhook_endpoints import FRESH_FOR
from support.constants import ADMIN_TOKEN, PASSWORD, MakeRelay
from support.constants import WEBHOOK_KEY as KEY
from support.constants import WEBHOOK_SECRET as SECRET
from support.relays import drain_to_rest
from support.rows import rows
from support.sms_gateway import GatewayRequest, SmsGateway
from support.smtp_sink import SinkServer, code_in
from support.webhooks import emit_activated, signed_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
ADA = {"email": "ada@example.com", "password": PASSWORD}
ENDPOINTS = "/v1/admin/webhook-endpoints"


@pytest.fixture
def other() -> Iterator[SmsGateway]:
    """A second receiver: another application's endpoint."""
    with SmsGateway(mode=200) as server:
        yield server


@pytest.fixture
def operated(env: dict[str, str], receiver: SmsGateway) -> Iterator[FlaskClient]:
    """The API with WEBHOOK_URL at `receiver` and the admin routes on."""
    hooks = {"WEBHOOK_URL": receiver.url + "/hooks", "WEBHOOK_SECRET": SECRET}
    app = create_app({**env, **hooks, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def hooked(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    """A relay with WEBHOOK_URL at `receiver`, three tries a message."""
    return make_relay(webhook_url=receiver.url + "/hooks", webhook_secret=KEY, relay_max_attempts=3)


def add(api: FlaskClient, url: str, *events: str) -> dict[str, Any]:
    """Add an endpoint through the admin API; its answer (with the secret)."""
    answer = api.post(ENDPOINTS, json={"url": url, "events": list(events)}, headers=ADMIN)
    assert answer.status_code == 201, answer.get_json()
    created: dict[str, Any] = answer.get_json()
    return created


def verified(request: GatewayRequest) -> Any:
    """The payload WEBHOOK_URL got, checked against WEBHOOK_SECRET."""
    return signed_for(SECRET, request)


def test_an_endpoint_for_account_activated_alone_gets_only_that_signed_with_its_own_secret(
    operated: FlaskClient,
    engine: Engine,
    hooked: Relay,
    receiver: SmsGateway,
    other: SmsGateway,
    smtp: SinkServer,
) -> None:
    endpoint = add(operated, other.url + "/provisioning?token=t0p", "account.activated")
    assert endpoint["secret"].startswith("whsec_") and endpoint["secret"] != SECRET
    assert endpoint["url"] == other.url + "/provisioning"
    assert operated.post("/v1/registrations", json=ADA).status_code == 202
    drain_to_rest(hooked)
    code = code_in(smtp.sink.wait_for(1)[0])
    activated = operated.post("/v1/activations", json={"email": ADA["email"], "code": code})
    assert activated.status_code == 200
    drain_to_rest(hooked)

    [request] = other.requests
    assert (request.method, request.path) == ("POST", "/provisioning?token=t0p")
    payload = signed_for(endpoint["secret"], request)
    assert payload["type"] == "account.activated"
    assert payload["data"]["email"] == ADA["email"]
    with pytest.raises(WebhookVerificationError):
        signed_for(SECRET, request)
    # WEBHOOK_URL stays the endpoint of every event, signed with WEBHOOK_SECRET.
    heard = [verified(r)["type"] for r in receiver.requests]
    assert sorted(heard) == ["account.activated", "account.registered"]
    events = [r for r in rows(engine, "outbox") if r["channel"] == "webhook"]
    assert sorted((r["recipient"], r["purpose"]) for r in events) == [
        (endpoint["id"], "account.activated"),
        ("webhook", "account.activated"),
        ("webhook", "account.registered"),
    ]
    assert all(r["status"] == "sent" and r["secret_params"] is None for r in events)


def test_a_failing_endpoint_is_retried_and_dead_lettered_apart(
    operated: FlaskClient,
    engine: Engine,
    hooked: Relay,
    receiver: SmsGateway,
    other: SmsGateway,
) -> None:
    failing = add(operated, other.url + "/broken", "account.activated")
    # 401 from WEBHOOK_URL pauses it; from an endpoint it is that event's failure alone.
    other.script = [401]
    other.mode = 500
    emit_activated(engine, hooked)
    drain_to_rest(hooked)

    by_recipient = {r["recipient"]: r for r in rows(engine, "outbox")}
    dead = by_recipient[failing["id"]]
    assert (dead["status"], dead["dead_reason"], dead["attempts"]) == ("dead", "max_attempts", 3)
    assert by_recipient["webhook"]["status"] == "sent"
    assert len(receiver.requests) == 1
    assert len(other.requests) == 3
    assert len({r.header("webhook-id") for r in other.requests}) == 1
    assert [signed_for(failing["secret"], r)["type"] for r in other.requests] == [
        "account.activated"
    ] * 3
    assert not [line for line in hooked.providers.status() if "webhook" in line]
    tries = [a["outcome"] for a in rows(engine, "outbox_attempts") if a["outbox_id"] == dead["id"]]
    assert tries == ["transient"] * 3

    listed = operated.get(
        "/v1/admin/dead-letters", query_string={"channel": "webhook"}, headers=ADMIN
    )
    assert [item["id"] for item in listed.get_json()["items"]] == [dead["public_id"]]
    other.mode = 200
    retried = operated.post(f"/v1/admin/dead-letters/{dead['public_id']}/retry", headers=ADMIN)
    assert retried.status_code == 200
    drain_to_rest(hooked)
    assert signed_for(failing["secret"], other.requests[-1])["type"] == "account.activated"
    assert len(receiver.requests) == 1


def test_delivery_sent_goes_to_its_subscribers_alone(
    operated: FlaskClient,
    engine: Engine,
    make_relay: MakeRelay,
    receiver: SmsGateway,
    other: SmsGateway,
    smtp: SinkServer,
) -> None:
    endpoint = add(operated, other.url + "/sent", "delivery.sent")
    relay = make_relay(webhook_url=receiver.url + "/hooks", webhook_secret=KEY)
    assert operated.post("/v1/registrations", json=ADA).status_code == 202
    drain_to_rest(relay)

    [mail] = [r for r in rows(engine, "outbox") if r["channel"] == "email"]
    [request] = other.requests
    payload = signed_for(endpoint["secret"], request)
    assert payload["type"] == "delivery.sent"
    assert payload["data"]["delivery_id"] == mail["public_id"]
    assert (payload["data"]["channel"], payload["data"]["purpose"]) == ("email", "activation")
    assert [verified(r)["type"] for r in receiver.requests] == ["account.registered"]


def test_no_delivery_sent_without_a_subscriber_and_the_relay_asks_once_in_a_while(
    operated: FlaskClient, engine: Engine, hooked: Relay, other: SmsGateway
) -> None:
    add(operated, other.url + "/activated", "account.activated")
    asked: list[str] = []

    def note(*args: Any) -> None:
        if "webhook_endpoints" in args[2]:
            asked.append(args[2])

    event.listen(hooked.engine, "before_cursor_execute", note)
    started = time.monotonic()
    for n in range(3):
        body = {**ADA, "email": f"ada{n}@example.com"}
        assert operated.post("/v1/registrations", json=body).status_code == 202
        drain_to_rest(hooked)
    assert "delivery.sent" not in {r["purpose"] for r in rows(engine, "outbox")}
    assert other.requests == []
    # Six outcomes written (three mails, three events), the endpoints read once a while at most
    # (this process's API may have read them for the relay:
    # shared.messaging.webhook_endpoints.FRESH_FOR).
    assert len(asked) <= 1 + (time.monotonic() - started) // FRESH_FOR


def test_a_removed_endpoints_dead_event_is_not_retried_anywhere(
    operated: FlaskClient,
    engine: Engine,
    hooked: Relay,
    receiver: SmsGateway,
    other: SmsGateway,
) -> None:
    gone = add(operated, other.url + "/gone", "account.activated")
    other.mode = 410
    emit_activated(engine, hooked)
    drain_to_rest(hooked)
    [dead] = [r for r in rows(engine, "outbox") if r["recipient"] == gone["id"]]
    assert (dead["status"], dead["dead_reason"]) == ("dead", "permanent_error")
    removed = operated.delete(f"/v1/admin/webhook-endpoints/{gone['id']}", headers=ADMIN)
    assert removed.status_code == 204

    retried = operated.post(f"/v1/admin/dead-letters/{dead['public_id']}/retry", headers=ADMIN)
    assert retried.get_json()["outcome"] == "endpoint_gone"
    drain_to_rest(hooked)
    assert len(other.requests) == 1 and len(receiver.requests) == 1
    [still] = [r for r in rows(engine, "outbox") if r["public_id"] == dead["public_id"]]
    assert still["status"] == "dead"
