"""Who learns that a message arrived: operators (`delivered_at` in their lookup) and the
application (`delivery.delivered`, to the endpoints subscribed to it), never a client. A
withheld notice never gets a receipt, so a public `delivered_at` told a number held unproven
from a free one (issue 79)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from api_service import create_app
from shared.vocabulary import EventType
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.deliveries import but_the_wait
from support.rows import rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer
from support.sns import BEARER, TOKEN
from support.webhooks import signed_for, subscribe

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MARY = "mary@example.com"
OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"


def test_a_receipt_is_the_operators_and_the_applications_never_a_clients(
    env: dict[str, str],
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    receiver: SmsGateway,
) -> None:
    hooks = receiver.url + "/hooks"
    served = {
        **env,
        "WEBHOOK_URL": hooks,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROVIDER_EVENTS_TOKEN": TOKEN,
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }
    app = create_app(served)
    try:
        api = app.test_client()
        relay = make_relay(webhook_url=hooks, webhook_secret=WEBHOOK_KEY)
        endpoint, secret = subscribe(
            engine, receiver.url + "/delivered", EventType.DELIVERY_DELIVERED
        )
        started = time.monotonic()
        registered = api.post("/v1/registrations", json={"email": MARY, "password": PASSWORD})
        delivery_id = registered.get_json()["delivery"]["id"]
        assert "delivered_at" not in registered.get_json()["delivery"]
        relay.drain()
        smtp.sink.wait_for(1)
        receiver.wait_for(1)  # account.registered
        before = api.get(f"/v1/deliveries/{delivery_id}").get_json()
        report = {"events": [{"type": "delivery", "delivery_id": delivery_id}]}
        # A provider may report it twice: the application is told once.
        for _ in range(2):
            answer = api.post("/v1/provider-events", json=report, headers=BEARER)
            assert answer.get_json() == {"accepted": 1, "unknown": 0}
        shown = api.get(f"/v1/deliveries/{delivery_id}").get_json()
        looked_up = api.get("/v1/admin/messages", query_string={"recipient": MARY}, headers=AUTH)
        relay.drain()
        told = receiver.wait_for(2)[-1]
    finally:
        app.extensions["outpost"].engine.dispose()
    assert "delivered_at" not in shown
    earlier, later = but_the_wait([before, shown], started)
    assert earlier == later
    first, _ = (e["at"] for e in rows(engine, "provider_events"))
    [message] = looked_up.get_json()["items"]
    assert datetime.fromisoformat(message["delivered_at"]) == first
    [user] = rows(engine, "users")
    # Its subscriber hears of it, signed with its secret; WEBHOOK_URL does not.
    assert told.path == "/delivered" and signed_for(secret, told)["type"] == "delivery.delivered"
    assert [r.json["type"] for r in receiver.requests if r.path == "/hooks"] == [
        "account.registered"
    ]
    assert told.json["data"] == {
        "user_id": user["id"],
        "email": MARY,
        "phone": None,
        # Her activation mail arrived; she has not typed its code yet.
        "email_proven": False,
        "phone_proven": False,
        "delivery_id": delivery_id,
        "channel": "email",
        "purpose": "activation",
    }
    stamp = datetime.fromisoformat(told.json["timestamp"].replace("Z", "+00:00"))
    assert abs((stamp - first.astimezone(UTC)).total_seconds()) < 0.001
    [event] = [r for r in rows(engine, "outbox") if r["purpose"] == "delivery.delivered"]
    assert event["recipient"] == endpoint


def _schemas_of(document: dict[str, Any], node: Any, seen: set[str]) -> set[str]:
    """The names of the schemas `node` refers to, and theirs in turn."""
    text = json.dumps(node)
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        if name not in seen:
            seen.add(name)
            _schemas_of(document, document["components"]["schemas"][name], seen)
    return seen


def test_no_public_routes_schema_names_delivered_at_and_the_lookups_does() -> None:
    document = json.loads(OPENAPI.read_text())
    public = {path: item for path, item in document["paths"].items() if "/admin" not in path}
    assert "/v1/deliveries/{public_id}" in public
    named = _schemas_of(document, public, set())
    assert "DeliveryStatus" in named
    schemas = document["components"]["schemas"]
    assert not [name for name in named if "delivered_at" in json.dumps(schemas[name])]
    assert "delivered_at" in schemas["Sent"]["properties"]
