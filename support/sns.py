"""Amazon SES notifications as Amazon SNS posts them, and a message for them to be about."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outbox_relay.relay import Relay
from support.smtp_sink import SinkServer

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures" / "ses"
TOKEN = "provider-events-token-0123456789"
PROVIDER_ID = "0100018c7f3b2a1e-5d6c7b8a-0000-4a1b-9c2d-3e4f5a6b7c8d-000000"
PASSWORD = "correct horse battery staple"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def ses(name: str, **values: str) -> dict[str, Any]:
    """An SNS post of the SES notification in fixture `name`, its placeholders filled; each
    post has an SNS MessageId of its own, as each notification SNS sends does."""
    text = (FIXTURES / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if name == "subscription_confirmation":
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:outpost-ses-events",
        "Message": json.dumps(json.loads(text)),
        "Timestamp": "2026-11-22T15:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def basic(password: str = TOKEN) -> dict[str, str]:
    """The Authorization header of HTTP Basic with `password`, as SNS sends it."""
    return {"Authorization": "Basic " + base64.b64encode(f"sns:{password}".encode()).decode()}


def post_sns(
    api: FlaskClient,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    client: str = "127.0.0.1",
) -> TestResponse:
    """As SNS posts, from the address `client`: text/plain, with HTTP Basic credentials unless
    other `headers` are given."""
    return api.post(
        "/v1/provider-events/ses",
        data=json.dumps(payload),
        headers={
            **(basic() if headers is None else headers),
            "Content-Type": "text/plain; charset=UTF-8",
        },
        environ_base={"REMOTE_ADDR": client},
    )


def sent_activation(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> str:
    """Register `email` and deliver its activation through SES's kind of 250; its id."""
    smtp.sink.accepted = f"250 Ok {PROVIDER_ID}"
    response = api.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    relay.drain()
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"
    return delivery_id
