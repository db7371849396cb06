"""SMS delivery receipts through the real API: Twilio status callbacks signed by the `twilio`
package's own RequestValidator, and Vonage DLRs, about messages whose provider id the relay's
outcome writing recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from api_service import create_app
from outbox_relay import claims, marks, store
from shared.clock import utcnow
from shared.vocabulary import EventType
from support.constants import PASSWORD, WEBHOOK_SECRET
from support.rows import rows
from support.webhooks import subscribe

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcd"
FALLBACK_TOKEN = "twilio-fallback-token-0123456789"
VONAGE_KEY, VONAGE_SECRET = "a1b2c3d4", "vonage-secret-0123"
EVENTS_TOKEN = "provider-events-token-0123456789"
BEARER = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
PUBLIC_URL = "https://outpost.example.com"
CALLBACK = PUBLIC_URL + "/v1/provider-events/twilio"
SID = "SM" + "fedcba9876543210" * 2
PHONE = "+237670123456"
# No request of the API calls the providers: their hosts only have to parse.
TWILIO_URL = f"twilio://{ACCOUNT_SID}:{AUTH_TOKEN}@127.0.0.1:9?from=%2B15005550006"
VONAGE_URL = f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@127.0.0.1:9?from=Outpost"


def receipts_env(env: dict[str, str], **changes: str) -> dict[str, str]:
    """The test environment with Twilio, Vonage as its fallback, receipts and webhooks on."""
    return {
        **env,
        "SMS_URL": TWILIO_URL,
        "SMS_FALLBACK_URL": VONAGE_URL,
        "PUBLIC_URL": PUBLIC_URL,
        "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
        "PHONE_DEFAULT_REGION": "CM",
        "WEBHOOK_URL": "https://app.example.com/hooks",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        **changes,
    }


@pytest.fixture
def receipts_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API with both SMS providers configured and PUBLIC_URL set."""
    app = create_app(receipts_env(env))
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def api(receipts_app: Flask) -> FlaskClient:
    """A test client of that API."""
    return receipts_app.test_client()


def sent_sms(
    api: FlaskClient, engine: Engine, provider_id: str, national: str = "670123456"
) -> str:
    """Register `national` (a number in Cameroon) and write its SMS sent with the provider's
    id, as the relay's outcome writing does; the delivery id."""
    answer = api.post("/v1/registrations", json={"phone": national, "password": PASSWORD})
    assert answer.status_code == 202
    delivery_id: str = answer.get_json()["delivery"]["id"]
    now = utcnow()
    with closing(claims.Claimer(engine)) as claimer:
        claimed = claimer.claim(now=now, limit=10, lease_seconds=60)
    [row] = [one for one in claimed if one.public_id == delivery_id]
    assert row.recipient == "+237" + national
    attempt = marks.Attempt("sent", now, 5)
    assert store.mark(engine, [marks.Mark(row, attempt, provider_id=provider_id)], now) == {row.id}
    return delivery_id


def twilio_callback(
    api: FlaskClient,
    fields: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    url: str = CALLBACK,
    sent: dict[str, str] | None = None,
    signature: str | None = None,
    client: str = "127.0.0.1",
    query: str = "",
) -> TestResponse:
    """Post a status callback as Twilio does, from the address `client`, signed by
    RequestValidator over `url` and `fields` (`sent`: the fields actually posted), arriving at
    another Host than PUBLIC_URL's."""
    signed = RequestValidator(token).compute_signature(url, fields)
    return api.post(
        "/v1/provider-events/twilio" + (f"?{query}" if query else ""),
        data=fields if sent is None else sent,
        headers={"X-Twilio-Signature": signed if signature is None else signature},
        base_url="http://10.0.0.7:8000",
        environ_base={"REMOTE_ADDR": client},
    )


def status(message_status: str, error_code: str = "", sid: str = SID) -> dict[str, str]:
    """A status callback's fields, as Twilio posts them."""
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": message_status,
        "SmsStatus": message_status,
        "ErrorCode": error_code,
        "To": PHONE,
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
    }


def delivery(api: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    """What GET /v1/deliveries says: status and reason."""
    shown = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    return shown["status"], shown["reason"]


def failures(engine: Engine) -> list[dict[str, Any]]:
    """The data of the delivery.failed events queued for the application."""
    return [
        r["params"]["data"] for r in rows(engine, "outbox") if r["purpose"] == "delivery.failed"
    ]


def test_a_delivered_callback_signed_over_public_url_is_recorded_once_whatever_the_host(
    api: FlaskClient, engine: Engine
) -> None:
    subscribe(engine, "https://crm.example.com/delivered", EventType.DELIVERY_DELIVERED)
    delivery_id = sent_sms(api, engine, SID)
    answer = twilio_callback(api, status("delivered"))
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 1, "unknown": 0})
    assert twilio_callback(api, status("delivered")).get_json() == {"accepted": 0, "unknown": 0}
    # The application is told, once; the client is not (tests/api/test_delivered.py).
    told = [
        r["params"]["data"] for r in rows(engine, "outbox") if r["purpose"] == "delivery.delivered"
    ]
    assert [data["delivery_id"] for data in told] == [delivery_id]
    assert "delivered_at" not in api.get(f"/v1/deliveries/{delivery_id}").get_json()
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"], event["source"]) == ("delivery", False, "twilio")
    assert delivery(api, delivery_id) == ("sent", None)
    assert rows(engine, "suppressions") == [] and failures(engine) == []


def test_the_signature_covers_the_exact_url_called_and_the_account_is_the_senders(
    api: FlaskClient, engine: Engine
) -> None:
    """Twilio signs the URL it called, query string included; a callback naming another
    account than the one that sent is refused even when signed with the sender's token."""
    sent_sms(api, engine, SID)
    with_query = f"{CALLBACK}?attempt=2"
    answer = twilio_callback(api, status("delivered"), url=with_query, query="attempt=2")
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    stripped = twilio_callback(api, status("sent"), url=CALLBACK, query="attempt=2")
    assert stripped.status_code == 401
    other = {**status("undelivered", "30005"), "AccountSid": "AC" + "9" * 32}
    assert twilio_callback(api, other).status_code == 401
    assert [e["type"] for e in rows(engine, "provider_events")] == ["delivery"]


def test_a_callback_signed_by_the_fallback_twilio_account_is_accepted(
    env: dict[str, str], engine: Engine
) -> None:
    fallback = f"twilio://{ACCOUNT_SID}:{FALLBACK_TOKEN}@127.0.0.1:9?from=%2B15005550006"
    app = create_app(receipts_env(env, SMS_URL=VONAGE_URL, SMS_FALLBACK_URL=fallback))
    try:
        client = app.test_client()
        answer = twilio_callback(client, status("delivered"), token=FALLBACK_TOKEN)
        assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 1})
        assert twilio_callback(client, status("delivered")).status_code == 401
        # Twilio's own validator takes the URL with the scheme's default port too.
        with_port = "https://outpost.example.com:443/v1/provider-events/twilio"
        signed = twilio_callback(client, status("sent"), token=FALLBACK_TOKEN, url=with_port)
        assert signed.status_code == 200
    finally:
        app.extensions["outpost"].engine.dispose()


def test_a_missing_signature_is_challenged_and_wrong_ones_are_refused_and_counted(
    api: FlaskClient, engine: Engine
) -> None:
    sent_sms(api, engine, SID)
    unsigned = [api.post("/v1/provider-events/twilio", data=status("delivered")) for _ in range(12)]
    assert {a.status_code for a in unsigned} == {401}
    assert unsigned[0].headers["WWW-Authenticate"].startswith("X-Twilio-Signature")
    changed = {**status("undelivered", "30005"), "ErrorCode": "30003"}
    wrong = [
        twilio_callback(api, status("delivered"), token="not-the-auth-token"),
        twilio_callback(
            api, status("delivered"), url="http://10.0.0.7:8000/v1/provider-events/twilio"
        ),
        twilio_callback(api, status("undelivered", "30005"), sent=changed),
        twilio_callback(api, status("delivered"), signature="c2lnbmF0dXJl"),
    ]
    assert [a.status_code for a in wrong] == [401] * 4
    assert rows(engine, "provider_events") == []
    more = [twilio_callback(api, status("delivered"), token="wrong") for _ in range(7)]
    assert [a.status_code for a in more] == [401] * 6 + [429]
    # The guesser's right signature goes unread until its window passes; Twilio, posting from
    # elsewhere, is unaffected.
    assert twilio_callback(api, status("delivered")).status_code == 429
    accepted = twilio_callback(api, status("delivered"), client="2001:db8:7::1")
    assert accepted.get_json() == {"accepted": 1, "unknown": 0}


@pytest.mark.parametrize(
    ("message_status", "code"), [("undelivered", "30005"), ("failed", "30006")]
)
def test_an_unknown_or_landline_destination_fails_the_delivery_and_suppresses_the_number(
    api: FlaskClient, engine: Engine, message_status: str, code: str
) -> None:
    delivery_id = sent_sms(api, engine, SID)
    answer = twilio_callback(api, status(message_status, code))
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert delivery(api, delivery_id) == ("failed", "address_rejected")
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"], event["source"]) == ("bounce", True, "twilio")
    assert event["diagnostic"] == f"twilio {message_status} (error {code})"
    [entry] = rows(engine, "suppressions")
    assert (entry["address"], entry["source"], entry["event_id"]) == (PHONE, "twilio", event["id"])
    [failed] = failures(engine)
    assert (failed["delivery_id"], failed["channel"], failed["reason"]) == (
        delivery_id,
        "sms",
        "address_rejected",
    )
    assert failed["phone"] == PHONE


@pytest.mark.parametrize("code", ["30003", "30007"])
def test_an_unreachable_handset_or_carrier_filtering_is_undeliverable_without_suppression(
    api: FlaskClient, engine: Engine, code: str
) -> None:
    delivery_id = sent_sms(api, engine, SID)
    assert twilio_callback(api, status("undelivered", code)).get_json() == {
        "accepted": 1,
        "unknown": 0,
    }
    assert delivery(api, delivery_id) == ("failed", "undeliverable")
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == delivery_id]
    assert (row["status"], row["dead_reason"]) == ("bounced", "permanent_error")
    assert rows(engine, "suppressions") == []
    assert [f["reason"] for f in failures(engine)] == ["undeliverable"]
    # The same receipt again changes nothing more.
    assert twilio_callback(api, status("undelivered", code)).get_json() == {
        "accepted": 0,
        "unknown": 0,
    }
    assert len(rows(engine, "provider_events")) == 1 and len(failures(engine)) == 1


def test_statuses_on_the_way_are_counted_and_unknown_messages_are_not_errors(
    api: FlaskClient, engine: Engine
) -> None:
    delivery_id = sent_sms(api, engine, SID)
    labels = {"source": "twilio", "type": "sent"}
    before = REGISTRY.get_sample_value("outpost_provider_events_total", labels) or 0.0
    for passing in ("queued", "sent"):
        answer = twilio_callback(api, status(passing))
        assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 0})
    assert REGISTRY.get_sample_value("outpost_provider_events_total", labels) == before + 1
    other = "SM" + "0" * 32
    bounces = {"source": "twilio", "type": "bounce"}
    before = REGISTRY.get_sample_value("outpost_provider_events_total", bounces) or 0.0
    answer = twilio_callback(api, status("undelivered", "30005", sid=other))
    assert answer.get_json() == {"accepted": 0, "unknown": 1}
    assert REGISTRY.get_sample_value("outpost_provider_events_total", bounces) == before + 1
    assert delivery(api, delivery_id) == ("sent", None)
    assert rows(engine, "provider_events") == [] and rows(engine, "suppressions") == []


def test_a_callback_without_its_fields_is_422_once_signed(api: FlaskClient) -> None:
    answer = twilio_callback(api, {"AccountSid": ACCOUNT_SID})
    assert answer.status_code == 422
    pointers = {e["pointer"] for e in answer.get_json()["errors"]}
    assert pointers == {"#/MessageSid", "#/MessageStatus"}


@pytest.mark.parametrize(
    "changes",
    [{"SMS_URL": "log:", "SMS_FALLBACK_URL": ""}, {"PUBLIC_URL": ""}],
    ids=["no-twilio", "no-public-url"],
)
def test_the_twilio_route_is_404_unless_twilio_and_public_url_are_configured(
    env: dict[str, str], changes: dict[str, str]
) -> None:
    app = create_app(receipts_env(env, **changes))
    try:
        answer = twilio_callback(app.test_client(), status("delivered"))
        assert answer.status_code == 404
    finally:
        app.extensions["outpost"].engine.dispose()


def dlr(
    message_status: str, err_code: str = "0", message_id: str = "0B00000127FDBC63"
) -> dict[str, str]:
    """A Vonage DLR, as its documentation shows one."""
    return {
        "msisdn": PHONE.lstrip("+"),
        "to": "Outpost",
        "network-code": "62401",
        "messageId": message_id,
        "price": "0.03330000",
        "status": message_status,
        "scts": "2611231910",
        "err-code": err_code,
        "api-key": VONAGE_KEY,
        "message-timestamp": "2026-11-23 19:10:29",
    }


def test_vonage_dlrs_with_the_token_change_the_row_as_twilio_receipts_do(
    api: FlaskClient, engine: Engine
) -> None:
    delivered_id = sent_sms(api, engine, "0B00000127FDBC63")
    answer = api.post("/v1/provider-events/vonage", json=dlr("delivered"), headers=BEARER)
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 1, "unknown": 0})
    assert delivery(api, delivered_id) == ("sent", None)
    buffered = api.post("/v1/provider-events/vonage", json=dlr("buffered"), headers=BEARER)
    assert buffered.get_json() == {"accepted": 0, "unknown": 0}

    # Refused by the carrier's anti-spam filter (6): this message only, posted as a form.
    filtered_id = sent_sms(api, engine, "0B00000127FDBC64", "670123457")
    filtered = dlr("rejected", "6", "0B00000127FDBC64")
    posted = api.post("/v1/provider-events/vonage", data=filtered, headers=BEARER)
    assert posted.get_json() == {"accepted": 1, "unknown": 0}
    assert delivery(api, filtered_id) == ("failed", "undeliverable")
    assert rows(engine, "suppressions") == []

    # An absent subscriber, for good (3): the number is refused.
    absent_id = sent_sms(api, engine, "0B00000127FDBC65", "670123458")
    absent = dlr("failed", "3", "0B00000127FDBC65")
    assert api.post("/v1/provider-events/vonage", json=absent, headers=BEARER).get_json() == {
        "accepted": 1,
        "unknown": 0,
    }
    assert delivery(api, absent_id) == ("failed", "address_rejected")
    [entry] = rows(engine, "suppressions")
    assert (entry["address"], entry["source"]) == ("+237670123458", "vonage")
    events = [(e["type"], e["source"], e["diagnostic"]) for e in rows(engine, "provider_events")]
    assert events == [
        ("delivery", "vonage", "vonage delivered"),
        ("bounce", "vonage", "vonage rejected (error 6)"),
        ("bounce", "vonage", "vonage failed (error 3)"),
    ]
    assert [f["reason"] for f in failures(engine)] == ["undeliverable", "address_rejected"]


def test_a_vonage_dlr_without_the_token_or_for_another_account_is_401(
    api: FlaskClient, engine: Engine
) -> None:
    unsigned = api.post("/v1/provider-events/vonage", json=dlr("delivered"))
    assert unsigned.status_code == 401 and "WWW-Authenticate" in unsigned.headers
    other = {**dlr("delivered"), "api-key": "ffffffff"}
    assert api.post("/v1/provider-events/vonage", json=other, headers=BEARER).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (
        api.post("/v1/provider-events/vonage", json=dlr("delivered"), headers=wrong).status_code
        == 401
    )
    assert rows(engine, "provider_events") == []


def test_the_vonage_route_is_404_without_a_vonage_provider(env: dict[str, str]) -> None:
    app = create_app(receipts_env(env, SMS_FALLBACK_URL=""))
    try:
        answer = app.test_client().post(
            "/v1/provider-events/vonage", json=dlr("delivered"), headers=BEARER
        )
        assert answer.status_code == 404
    finally:
        app.extensions["outpost"].engine.dispose()


def test_a_vonage_dlr_finds_its_message_by_client_ref_when_it_carries_the_delivery_id(
    api: FlaskClient, engine: Engine
) -> None:
    delivery_id = sent_sms(api, engine, "0B00000127FDBC63")
    other_part = {**dlr("failed", "9", "0B00000127FDBC99"), "client-ref": delivery_id}
    answer = api.post("/v1/provider-events/vonage", json=other_part, headers=BEARER)
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert delivery(api, delivery_id) == ("failed", "address_rejected")
    assert [e["address"] for e in rows(engine, "suppressions")] == [PHONE]
