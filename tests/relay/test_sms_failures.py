"""Twilio's and Vonage's error codes end to end (spec: "SMS providers"): a real relay against
the stand-ins, the row, its attempt, the suppression list and what GET /v1/deliveries says."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, update

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.models import outbox
from shared.messaging.outbox import enqueue
from shared.secrets.secretbox import SecretBox
from support.constants import SECRET_KEY, MakeRelay
from support.http_stand_in import Behaviour
from support.relays import drain_until
from support.rows import rows
from support.twilio_api import TwilioApi
from support.vonage_api import VonageApi

PHONE = "+33612345678"


def stand_in(request: pytest.FixtureRequest, name: str) -> TwilioApi | VonageApi:
    api: TwilioApi | VonageApi = request.getfixturevalue(name)
    return api


def register(client: FlaskClient) -> str:
    body = {"phone": PHONE, "password": "correct horse battery staple"}
    response = client.post("/v1/registrations", json=body)
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def by_id(engine: Engine, public_id: str) -> dict[str, Any]:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == public_id]
    return row


def attempts(engine: Engine) -> list[str]:
    return [str(a["outcome"]) for a in rows(engine, "outbox_attempts")]


def suppressions(engine: Engine) -> list[tuple[str, str, str]]:
    return [(s["address"], s["reason"], s["source"]) for s in rows(engine, "suppressions")]


def delivery(client: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    answer = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return answer["status"], answer["reason"]


def queue_notice(engine: Engine) -> str:
    """Another SMS to the same number: a password-changed notice."""
    with engine.begin() as connection:
        queued = enqueue(
            connection,
            SecretBox(SECRET_KEY),
            now=utcnow(),
            channel="sms",
            purpose="password_changed",
            recipient=PHONE,
            locale="en",
            params={"full_name": None},
        )
    return queued.id


def provider_up(name: str) -> float | None:
    return REGISTRY.get_sample_value("outpost_provider_up", {"provider": name})


@pytest.mark.parametrize(
    ("api_name", "behaviour", "error", "suppressed", "reason"),
    [
        ("twilio", 21211, "Twilio 21211 number refused", "rejected", "address_rejected"),
        ("twilio", 21614, "Twilio 21614 number refused", "rejected", "address_rejected"),
        ("twilio", 21610, "Twilio 21610 recipient opted out", "complaint", "undeliverable"),
        ("twilio", 21408, "Twilio 21408 region not allowed", None, "undeliverable"),
        ("vonage", 29, "Vonage 29 region not allowed", None, "undeliverable"),
    ],
)
def test_refusals_of_the_message_are_permanent_and_suppress_as_the_code_says(
    request: pytest.FixtureRequest,
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    api_name: str,
    behaviour: int,
    error: str,
    suppressed: str | None,
    reason: str,
) -> None:
    api = stand_in(request, api_name)
    api.script = [behaviour]
    relay = make_relay(sms_url=api.sms_url())
    delivery_id = register(client)
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "permanent_error", 1)
    assert str(row["last_error"]).startswith(error), row["last_error"]
    assert row["secret_params"] is None and row["provider_message_id"] is None
    assert attempts(engine) == ["permanent"]
    assert suppressions(engine) == ([(PHONE, suppressed, "sms")] if suppressed else [])
    assert delivery(client, delivery_id) == ("failed", reason)
    assert relay.providers.status() == [] and api.problems == []
    # The next message to the number: suppressed without a request, or sent.
    notice = queue_notice(engine)
    assert relay.drain() == 1
    after = by_id(engine, notice)
    if suppressed:
        assert (after["status"], after["dead_reason"]) == ("dead", "suppressed")
        assert len(api.requests) == 1
    else:
        assert after["status"] == "sent" and len(api.requests) == 2


@pytest.mark.parametrize(
    ("api_name", "behaviour", "error"),
    [
        pytest.param("twilio", 20003, "Twilio 20003 bad credentials", id="twilio-20003"),
        pytest.param("twilio", 401, "Twilio HTTP 401 provider refused", id="twilio-401"),
        pytest.param("vonage", 4, "Vonage 4 bad credentials", id="vonage-4"),
        pytest.param("vonage", 9, "Vonage 9 quota exceeded", id="vonage-9"),
        # Throttling slows the provider as SMTP's 421 does: paused, probed after the backoff.
        pytest.param("twilio", 429, "Twilio HTTP 429 throttled", id="twilio-429"),
        pytest.param("twilio", 20429, "Twilio 20429 throttled", id="twilio-20429"),
        pytest.param("vonage", 1, "Vonage 1 throttled", id="vonage-1"),
    ],
)
def test_the_providers_own_failures_pause_it_and_the_message_waits(
    request: pytest.FixtureRequest,
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    api_name: str,
    behaviour: int,
    error: str,
) -> None:
    api = stand_in(request, api_name)
    api.mode = behaviour
    relay = make_relay(sms_url=api.sms_url(), relay_backoff_base=0.3, relay_backoff_cap=0.3)
    delivery_id = register(client)
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("pending", None, 0)
    assert str(row["last_error"]).startswith(error), row["last_error"]
    assert attempts(engine) == ["provider_down"]
    [status] = relay.providers.status()
    assert status.startswith("provider sms down since ") and error in status
    assert provider_up("sms") == 0  # paused, or on trial after a backoff full jitter made short
    assert suppressions(engine) == []
    assert delivery(client, delivery_id) == ("queued", "provider_unavailable")
    # The provider answers again: the message goes through as its probe, once the backoff passed.
    api.mode = 0 if isinstance(api, VonageApi) else 201
    drain_until(relay, lambda: by_id(engine, delivery_id)["status"] == "sent", timeout=10)
    assert attempts(engine) == ["provider_down", "sent"]
    assert relay.providers.status() == [] and provider_up("sms") == 1
    assert len(api.requests) == 2 and api.problems == []
    assert delivery(client, delivery_id) == ("sent", None)


@pytest.mark.parametrize(
    ("api_name", "behaviour", "error"),
    [
        pytest.param("twilio", 500, "Twilio HTTP 500 failed", id="twilio-500"),
        pytest.param("twilio", 503, "Twilio HTTP 503 failed", id="twilio-503"),
        pytest.param("twilio", "reset", "ReadError|RemoteProtocolError", id="twilio-reset"),
        pytest.param("vonage", 500, "Vonage HTTP 500 failed", id="vonage-500"),
        pytest.param("vonage", 5, "Vonage 5 internal error", id="vonage-5"),
        pytest.param("vonage", "reset", "ReadError|RemoteProtocolError", id="vonage-reset"),
    ],
)
def test_5xx_and_network_failures_are_transient(
    request: pytest.FixtureRequest,
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    api_name: str,
    behaviour: Behaviour,
    error: str,
) -> None:
    api = stand_in(request, api_name)
    api.script = [behaviour]
    relay = make_relay(sms_url=api.sms_url())
    delivery_id = register(client)
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("pending", None, 1)
    assert any(part in str(row["last_error"]) for part in error.split("|")), row["last_error"]
    assert attempts(engine) == ["transient"] and relay.providers.status() == []
    assert delivery(client, delivery_id) == ("queued", None)
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    assert relay.drain() == 1
    assert by_id(engine, delivery_id)["status"] == "sent"
    assert attempts(engine) == ["transient", "sent"] and suppressions(engine) == []
    assert api.problems == []


def test_a_provider_that_cannot_be_reached_is_transient(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine
) -> None:
    api = TwilioApi()
    api.start()
    url = api.sms_url()
    api.stop()
    relay: Relay = make_relay(sms_url=url)
    delivery_id = register(client)
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "ConnectError" in str(row["last_error"])
    assert attempts(engine) == ["transient"]
    assert relay.providers.status() == []
