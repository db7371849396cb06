"""Twilio and Vonage by URL: the relay against real HTTP servers built to their published
APIs, the exact request checked, from a registration with a national number to the row."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.sms_providers.vonage import receipt_key
from support.constants import SECRET_KEY, MakeRelay
from support.http_stand_in import GatewayRequest
from support.rows import rows
from support.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApi
from support.twilio_api import SENDER as TWILIO_SENDER
from support.vonage_api import API_KEY, API_SECRET, VonageApi
from support.vonage_api import SENDER as VONAGE_SENDER

PUBLIC_URL = "https://outpost.example"
NATIONAL = "670123456"  # a Cameroonian mobile number, as a person in Cameroon types it
E164 = "+237670123456"


@pytest.fixture
def cm_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API reading national numbers as Cameroon's."""
    app = create_app({**env, "PHONE_DEFAULT_REGION": "CM"})
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def cm_client(cm_app: Flask) -> FlaskClient:
    return cm_app.test_client()


def register(client: FlaskClient, locale: str = "en") -> str:
    """Register the national number; the public id of the activation SMS queued."""
    body = {"phone": NATIONAL, "password": "correct horse battery staple", "locale": locale}
    response = client.post("/v1/registrations", json=body)
    assert response.status_code == 202, response.get_json()
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def the_row(engine: Engine) -> dict[str, Any]:
    [row] = rows(engine, "outbox")
    return row


def pending_code(engine: Engine, settings: Settings) -> str:
    row = the_row(engine)
    code: str = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    return code


def assert_basic(request: GatewayRequest) -> None:
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.header("Authorization") == f"Basic {expected}"


def test_a_cameroonian_national_number_reaches_twilio_in_e164(
    cm_client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    settings: Settings,
    twilio: TwilioApi,
) -> None:
    relay = make_relay(sms_url=twilio.sms_url(), public_url=PUBLIC_URL)
    delivery_id = register(cm_client)
    code = pending_code(engine, settings)
    assert relay.drain() == 1
    [request] = twilio.requests
    assert twilio.problems == []
    assert (request.method, request.path) == (
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
    )
    assert_basic(request)
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.form == {
        "To": E164,
        "From": TWILIO_SENDER,
        "Body": request.form["Body"],
        "StatusCallback": f"{PUBLIC_URL}/v1/provider-events/twilio",
    }
    assert re.findall(r"\b\d{6}\b", request.form["Body"]) == [code]
    row = the_row(engine)
    assert (row["public_id"], row["recipient"], row["status"]) == (delivery_id, E164, "sent")
    assert re.fullmatch(r"SM[0-9a-f]{32}", row["provider_message_id"])
    assert row["provider_message_id"] == twilio.sent[0]
    assert cm_client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_twilio_through_a_messaging_service_and_without_public_url(
    cm_client: FlaskClient, make_relay: MakeRelay, engine: Engine, twilio: TwilioApi
) -> None:
    service = "MG" + "0123456789abcdef" * 2
    relay = make_relay(sms_url=twilio.sms_url(f"messaging_service_sid={service}"))
    register(cm_client)
    assert relay.drain() == 1
    [request] = twilio.requests
    assert twilio.problems == []
    assert request.form == {
        "To": E164,
        "MessagingServiceSid": service,
        "Body": request.form["Body"],
    }
    assert the_row(engine)["status"] == "sent"


def test_a_cameroonian_national_number_reaches_vonage_without_its_plus(
    cm_client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    settings: Settings,
    vonage: VonageApi,
) -> None:
    relay = make_relay(sms_url=vonage.sms_url(), public_url=PUBLIC_URL)
    delivery_id = register(cm_client, locale="fr")
    code = pending_code(engine, settings)
    assert relay.drain() == 1
    [request] = vonage.requests
    assert vonage.problems == []
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    text = request.form["text"]
    # French, but GSM-7 throughout (the packaged text fits one segment either way): no
    # `type=unicode`.
    assert "votre code d'activation est" in text and "valable" in text
    assert request.form == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "from": VONAGE_SENDER,
        "to": E164.removeprefix("+"),
        "text": text,
        "callback": f"{PUBLIC_URL}/v1/provider-events/vonage?key={receipt_key(SECRET_KEY)}",
    }
    assert re.findall(r"\b\d{6}\b", text) == [code]
    row = the_row(engine)
    assert (row["public_id"], row["status"]) == (delivery_id, "sent")
    assert row["provider_message_id"] == vonage.sent[0]
    assert cm_client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_a_dlr_posted_to_the_callback_the_relay_gave_vonage_marks_the_delivery(
    env: dict[str, str], make_relay: MakeRelay, engine: Engine, vonage: VonageApi
) -> None:
    """Vonage posts a message's DLR to its `callback` as it is, with no credentials of ours:
    the URL carries what the route needs."""
    served = {
        **env,
        "PHONE_DEFAULT_REGION": "CM",
        "SMS_URL": vonage.sms_url(),
        "PUBLIC_URL": PUBLIC_URL,
    }
    app = create_app(served)
    try:
        client = app.test_client()
        delivery_id = register(client)
        assert make_relay(sms_url=vonage.sms_url(), public_url=PUBLIC_URL).drain() == 1
        callback = vonage.requests[0].form["callback"]
        assert callback.startswith(f"{PUBLIC_URL}/v1/provider-events/vonage?key=")
        receipt = {
            "msisdn": E164.removeprefix("+"),
            "to": VONAGE_SENDER,
            "messageId": vonage.sent[0],
            "status": "delivered",
            "err-code": "0",
            "api-key": API_KEY,
            "message-timestamp": "2026-11-25 05:10:29",
        }
        posted = client.post(callback.removeprefix(PUBLIC_URL), data=receipt)
        assert (posted.status_code, posted.get_json()) == (200, {"accepted": 1, "unknown": 0})
        [event] = rows(engine, "provider_events")
        assert (event["type"], event["source"]) == ("delivery", "vonage")
        row = the_row(engine)
        assert (row["public_id"], row["id"]) == (delivery_id, event["outbox_id"])
        # The same URL with another key is refused, and so is the route without one.
        forged = callback.removeprefix(PUBLIC_URL).replace("key=", "key=0")
        assert client.post(forged, data=receipt).status_code == 401
    finally:
        app.extensions["outpost"].engine.dispose()


def test_vonage_gets_type_unicode_for_text_outside_gsm7(
    cm_client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    settings: Settings,
    vonage: VonageApi,
) -> None:
    branding = replace(settings.branding, product_name="La Fête")
    relay = make_relay(sms_url=vonage.sms_url(), branding=branding)
    register(cm_client, locale="fr")
    assert relay.drain() == 1
    [request] = vonage.requests
    assert vonage.problems == []
    assert request.form["text"].startswith("La Fête : votre code")
    assert request.form["type"] == "unicode"
    assert the_row(engine)["status"] == "sent"


def test_vonage_gets_a_numeric_sender_without_its_plus(
    cm_client: FlaskClient, make_relay: MakeRelay, engine: Engine, vonage: VonageApi
) -> None:
    relay = make_relay(sms_url=vonage.sms_url("+15005550006"))
    register(cm_client)
    assert relay.drain() == 1
    [request] = vonage.requests
    assert (request.form["from"], request.form["to"]) == ("15005550006", "237670123456")
    assert "callback" not in request.form and vonage.problems == []
    assert the_row(engine)["status"] == "sent"
