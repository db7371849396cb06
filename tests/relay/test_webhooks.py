"""Lifecycle events to a real HTTP receiver through the relay: the Standard Webhooks signature
checked by the reference library, the same webhook-id on every try, the spec's answers."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from api_service import create_app
from outbox_relay.relay import Relay
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.commands import as_json, here, here_all, ok
from support.constants import ADMIN_TOKEN, MakeRelay
from support.dashboard import signed_in
from support.rows import rows
from support.sms_gateway import GatewayRequest, SmsGateway
from support.smtp_sink import SinkServer
from support.webhooks import emit_activated

KEY = b"webhook-key-0123456789abcdef-0123"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def hooked(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    """A relay with WEBHOOK_URL pointed at `receiver`."""
    return make_relay(webhook_url=receiver.url + "/hooks", webhook_secret=KEY)


def verified(request: GatewayRequest) -> Any:
    """The payload, once the reference library has checked the signature and timestamp."""
    headers = {k.lower(): v for k, v in request.headers}
    return Webhook(SECRET).verify(request.body, headers)


def outcomes(engine: Engine) -> list[str]:
    return [str(a["outcome"]) for a in rows(engine, "outbox_attempts")]


def test_an_event_is_posted_signed_as_standard_webhooks_says(
    engine: Engine, hooked: Relay, receiver: SmsGateway
) -> None:
    user_id = emit_activated(engine, hooked)
    assert hooked.drain() == 1
    [request] = receiver.requests
    payload = verified(request)
    [row] = rows(engine, "outbox")
    assert request.header("webhook-id") == row["public_id"]
    assert (request.method, request.path) == ("POST", "/hooks")
    assert payload["type"] == "account.activated"
    assert payload["data"] == {
        "user_id": user_id,
        "email": "ada@example.com",
        "email_proven": True,
        "phone": None,
        "phone_proven": False,
    }
    assert payload["timestamp"].endswith("Z")
    assert (row["channel"], row["recipient"], row["status"]) == ("webhook", "webhook", "sent")


def test_500_twice_then_200_is_one_delivery_after_three_tries_with_one_id(
    engine: Engine, hooked: Relay, receiver: SmsGateway
) -> None:
    receiver.script = [500, 500]
    emit_activated(engine, hooked)
    deadline = time.monotonic() + 5
    while rows(engine, "outbox")[0]["status"] != "sent":
        assert time.monotonic() < deadline
        hooked.drain()
        time.sleep(0.01)
    assert outcomes(engine) == ["transient", "transient", "sent"]
    assert len({r.header("webhook-id") for r in receiver.requests}) == 1
    assert [verified(r)["type"] for r in receiver.requests] == ["account.activated"] * 3


def test_410_kills_the_event_at_once_and_no_event_reports_an_events_death(
    engine: Engine, hooked: Relay, receiver: SmsGateway
) -> None:
    receiver.mode = 410
    emit_activated(engine, hooked)
    assert hooked.drain() == 1
    [row] = rows(engine, "outbox")
    assert (row["status"], row["dead_reason"]) == ("dead", "permanent_error")


def test_401_pauses_the_endpoint_and_the_event_waits(
    engine: Engine, hooked: Relay, receiver: SmsGateway
) -> None:
    receiver.mode = 401
    emit_activated(engine, hooked)
    assert hooked.drain() == 1
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert outcomes(engine) == ["provider_down"]
    assert any(line.startswith("provider webhook down") for line in hooked.providers.status())


def test_a_message_that_dies_is_reported_in_the_transaction_that_marks_it(
    engine: Engine, hooked: Relay, receiver: SmsGateway, smtp: SinkServer, client: FlaskClient
) -> None:
    smtp.sink.mode = "reply:550"
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    hooked.drain()
    hooked.drain()
    dead, event = (r for r in rows(engine, "outbox") if r["purpose"] != "account.registered")
    assert dead["status"] == "dead"
    assert (event["channel"], event["purpose"], event["status"]) == (
        "webhook",
        "delivery.failed",
        "sent",
    )
    [payload] = [verified(r) for r in receiver.requests if r.json["type"] == "delivery.failed"]
    [user] = rows(engine, "users")
    assert payload["data"] == {
        "user_id": user["id"],
        "email": "ada@example.com",
        "email_proven": False,
        "phone": None,
        "phone_proven": False,
        "delivery_id": dead["public_id"],
        "channel": "email",
        "purpose": "activation",
        "reason": "undeliverable",
    }


@pytest.fixture
def operated(env: dict[str, str], receiver: SmsGateway) -> Iterator[FlaskClient]:
    """A client of the API writing events for `receiver`, admin routes and dashboard on."""
    hooks = {"WEBHOOK_URL": receiver.url + "/hooks", "WEBHOOK_SECRET": SECRET}
    app = create_app({**env, **hooks, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


def test_dead_events_are_listed_and_retried_by_channel_and_by_event_on_every_face(
    operated: FlaskClient,
    engine: Engine,
    hooked: Relay,
    receiver: SmsGateway,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    api = operated
    smtp.sink.mode, receiver.mode = "reply:550", 400
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    assert api.post("/v1/registrations", json=body).status_code == 202
    while hooked.drain():
        pass
    dead = {r["purpose"]: r["public_id"] for r in rows(engine, "outbox") if r["status"] == "dead"}
    assert set(dead) == {"activation", "account.registered", "delivery.failed"}
    events = [dead["delivery.failed"], dead["account.registered"]]

    by_channel, by_event = here_all(
        env,
        tmp_path,
        ("dead", "list", "--channel", "webhook", "--json"),
        ("dead", "list", "--purpose", "delivery.failed", "--json"),
    )
    assert [letter["id"] for letter in as_json(by_channel)] == events
    assert [letter["id"] for letter in as_json(by_event)] == events[:1]
    retried = here(env, tmp_path, "dead", "retry", "--all", "--purpose", "account.registered")
    assert ok(retried).stdout.splitlines()[1].split() == [events[1], "requeued", "-"]

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for query in ({"channel": "webhook"}, {"purpose": "delivery.failed"}):
        listed = api.get("/v1/admin/dead-letters", query_string=query, headers=admin)
        assert [item["id"] for item in listed.get_json()["items"]] == events[:1], query
    signed_in(api)
    page = api.get("/admin/dead?channel=webhook").get_data(as_text=True)
    assert re.findall(r'<tr data-id="([^"]+)"', page) == events[:1]
    assert '<option value="delivery.failed">' in page
    bulk = api.post("/v1/admin/dead-letters/retry", json={"channel": "webhook"}, headers=admin)
    assert bulk.get_json() == {
        "retried": 1,
        "results": [{"id": events[0], "outcome": "requeued", "delivery": None}],
    }

    receiver.mode = 200
    assert hooked.drain() == 2
    statuses = {r["public_id"]: r["status"] for r in rows(engine, "outbox")}
    assert [statuses[i] for i in events] == ["sent", "sent"]
    assert statuses[dead["activation"]] == "dead"


def test_no_events_without_a_webhook_url(engine: Engine, relay: Relay) -> None:
    emit_activated(engine, relay)
    assert rows(engine, "outbox") == []


def test_an_address_refused_as_unknown_is_reported_as_rejected(
    engine: Engine, hooked: Relay, receiver: SmsGateway, smtp: SinkServer, client: FlaskClient
) -> None:
    smtp.sink.mode = "reply:550 5.1.1"
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    hooked.drain()
    hooked.drain()
    [payload] = [verified(r) for r in receiver.requests if r.json["type"] == "delivery.failed"]
    assert payload["data"]["reason"] == "address_rejected"


@pytest.mark.parametrize("secret", [None, "", "secret", "whsec_***", "whsec_" + "QUJD"])
def test_a_webhook_url_without_a_valid_secret_stops_the_process(secret: str | None) -> None:
    environ = {"SECRET_KEY": "x" * 16, "WEBHOOK_URL": "https://app.example/hooks"}
    if secret is not None:
        environ["WEBHOOK_SECRET"] = secret
    with pytest.raises(ConfigError, match=r"^WEBHOOK_SECRET: "):
        Settings.from_env(environ)
    assert Settings.from_env({**environ, "WEBHOOK_SECRET": SECRET}).webhook_secret == KEY
