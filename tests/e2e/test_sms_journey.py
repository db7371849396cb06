"""An SMS's whole journey with each real provider's API: a Cameroonian national number registered,
sent by the relay to the provider's stand-in, its receipt posted back to the URL the relay gave
the provider (signed by Twilio's own RequestValidator), and the client told the truth."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from api_service import create_app
from support.constants import PASSWORD, MakeRelay
from support.rows import rows
from support.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApi
from support.vonage_api import API_KEY, VonageApi

PUBLIC_URL = "https://outpost.example.com"
EVENTS_TOKEN = "provider-events-token-0123456789"
NATIONAL, E164 = "670123456", "+237670123456"


def started(env: dict[str, str], sms_url: str) -> Flask:
    """The API as the relay's: the same provider, PUBLIC_URL and national numbers of Cameroon."""
    return create_app(
        {
            **env,
            "SMS_URL": sms_url,
            "PUBLIC_URL": PUBLIC_URL,
            "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
            "PHONE_DEFAULT_REGION": "CM",
        }
    )


def register(client: FlaskClient) -> str:
    answer = client.post("/v1/registrations", json={"phone": NATIONAL, "password": PASSWORD})
    assert answer.status_code == 202, answer.get_json()
    delivery_id: str = answer.get_json()["delivery"]["id"]
    return delivery_id


def told(client: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    shown = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return shown["status"], shown["reason"]


def suppressed(engine: Engine) -> list[str]:
    return [r["address"] for r in rows(engine, "suppressions")]


def test_twilio_sends_the_number_in_e164_and_its_signed_receipt_fails_the_delivery(
    env: dict[str, str], make_relay: MakeRelay, engine: Engine, twilio: TwilioApi
) -> None:
    app = started(env, twilio.sms_url())
    client = app.test_client()
    delivery_id = register(client)
    assert make_relay(sms_url=twilio.sms_url(), public_url=PUBLIC_URL).drain() == 1
    [request] = twilio.requests
    assert twilio.problems == []
    assert request.form["To"] == E164
    assert told(client, delivery_id) == ("sent", None)

    # Twilio posts to the StatusCallback it was given, signing that URL and every field.
    callback = request.form["StatusCallback"]
    receipt = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": twilio.sent[0],
        "MessageStatus": "undelivered",
        "ErrorCode": "30005",
        "To": E164,
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(callback, receipt)
    answer = client.post(
        callback.removeprefix(PUBLIC_URL),
        data=receipt,
        headers={"X-Twilio-Signature": signature},
        base_url="http://10.0.0.7:8000",
    )
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert told(client, delivery_id) == ("failed", "address_rejected")
    assert suppressed(engine) == [E164]
    app.extensions["outpost"].engine.dispose()


def test_vonage_sends_the_number_as_digits_and_its_receipt_fails_the_delivery(
    env: dict[str, str], make_relay: MakeRelay, engine: Engine, vonage: VonageApi
) -> None:
    app = started(env, vonage.sms_url())
    client = app.test_client()
    delivery_id = register(client)
    assert make_relay(sms_url=vonage.sms_url(), public_url=PUBLIC_URL).drain() == 1
    [request] = vonage.requests
    assert vonage.problems == []
    assert request.form["to"] == E164.removeprefix("+")
    assert told(client, delivery_id) == ("sent", None)

    # Vonage posts its DLR to the callback it was given; the provider-events token guards it.
    dlr = {
        "msisdn": E164.removeprefix("+"),
        "messageId": vonage.sent[0],
        "status": "failed",
        "err-code": "9",
        "api-key": API_KEY,
        "message-timestamp": "2026-11-23 19:10:29",
    }
    answer = client.post(
        request.form["callback"].removeprefix(PUBLIC_URL),
        json=dlr,
        headers={"Authorization": f"Bearer {EVENTS_TOKEN}"},
    )
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert told(client, delivery_id) == ("failed", "address_rejected")
    assert suppressed(engine) == [E164]
    app.extensions["outpost"].engine.dispose()
