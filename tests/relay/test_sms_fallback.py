"""SMS_FALLBACK_URL: the email side's pause, probe and failover rules for SMS, against the
Twilio and Vonage stand-ins (an HTTP provider's probe is one real message)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from support.constants import PASSWORD, MakeRelay
from support.relays import drain_until
from support.rows import rows
from support.twilio_api import AUTH_TOKEN, TwilioApi
from support.vonage_api import API_SECRET, VonageApi


def register(client: FlaskClient, phone: str) -> str:
    response = client.post("/v1/registrations", json={"phone": phone, "password": PASSWORD})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def by_id(engine: Engine, public_id: str) -> dict[str, Any]:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == public_id]
    return row


def provider_up(name: str) -> float | None:
    return REGISTRY.get_sample_value("outpost_provider_up", {"provider": name})


def test_a_primary_refusing_its_credentials_is_paused_the_fallback_sends_and_it_comes_back(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    twilio: TwilioApi,
    vonage: VonageApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    twilio.mode = 20003
    relay = make_relay(
        sms_url=twilio.sms_url(),
        sms_fallback_url=vonage.sms_url(),
        relay_backoff_base=0.3,
        relay_backoff_cap=0.3,
    )
    first = register(client, "+33612345678")
    drain_until(relay, lambda: by_id(engine, first)["status"] == "sent", timeout=10)
    row = by_id(engine, first)
    # Sent by the fallback, whose id is the one recorded; the primary's refusal counted nothing.
    assert (row["attempts"], row["provider_message_id"]) == (1, vonage.sent[0])
    outcomes = [a["outcome"] for a in rows(engine, "outbox_attempts")]
    assert set(outcomes[:-1]) == {"provider_down"} and outcomes[-1] == "sent"
    assert {r.form["To"] for r in twilio.requests} == {"+33612345678"}
    assert [r.form["to"] for r in vonage.requests] == ["33612345678"]
    [status] = relay.providers.status()
    assert status.startswith("provider sms down since ") and "Twilio 20003" in status
    assert (provider_up("sms"), provider_up("sms_fallback")) == (0, 1)
    assert client.get(f"/v1/deliveries/{first}").get_json()["status"] == "sent"
    paused = [r for r in caplog.records if r.getMessage() == "provider paused"]
    assert [getattr(r, "provider", None) for r in paused] == ["sms"]

    # The primary answers again: after the backoff, the next message is its probe, and it
    # takes the messages again.
    twilio.mode = 201
    time.sleep(0.5)
    tried = len(twilio.requests)
    second = register(client, "+33612345679")
    drain_until(relay, lambda: by_id(engine, second)["status"] == "sent", timeout=10)
    third = register(client, "+33612345670")
    drain_until(relay, lambda: by_id(engine, third)["status"] == "sent", timeout=10)
    assert [r.form["To"] for r in twilio.requests[tried:]] == ["+33612345679", "+33612345670"]
    assert len(vonage.requests) == 1
    assert by_id(engine, third)["provider_message_id"] == twilio.sent[-1]
    assert relay.providers.status() == [] and provider_up("sms") == 1
    assert twilio.problems == [] and vonage.problems == []
    # Providers are named, never by URL: no credential reaches the log.
    for record in caplog.records:
        assert AUTH_TOKEN not in str(record.__dict__) and API_SECRET not in str(record.__dict__)
