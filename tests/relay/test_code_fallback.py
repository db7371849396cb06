"""The other channel when a code cannot arrive (CODE_FALLBACK_AFTER): the relay sends a new code
by SMS to the phone given at registration when the mailed one is refused or its provider stays
down, through a real SMTP sink and a real HTTP SMS gateway stand-in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.constants import PASSWORD, MakeRelay
from support.relays import drain_until
from support.rows import let_time_pass, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer

EMAIL, PHONE = "ada@example.com", "+33612345678"
TOKEN = "gw-token"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server standing in for the SMS gateway, answering 202."""
    with SmsGateway(mode=202) as server:
        yield server


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[FlaskClient]:
    """The API, CODE_FALLBACK_AFTER set as for the relay: its code messages keep who pays."""
    app = create_app({**env, "CODE_FALLBACK_AFTER": "2"})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def fallback_relay(make_relay: MakeRelay, gateway: SmsGateway) -> Relay:
    """A relay with CODE_FALLBACK_AFTER=2 whose SMS goes to `gateway`."""
    return make_relay(code_fallback_after=2, sms_url=gateway.url + "/sms", sms_token=TOKEN)


def register(client: FlaskClient, email: str = EMAIL, phone: str = PHONE) -> str:
    """Register with an email address and a phone; the mailed activation's delivery id."""
    answer = client.post(
        "/v1/registrations", json={"email": email, "phone": phone, "password": PASSWORD}
    )
    assert answer.status_code == 202, answer.get_json()
    delivery = answer.get_json()["delivery"]
    assert delivery["channel"] == "email"
    delivery_id: str = delivery["id"]
    return delivery_id


def shown(client: FlaskClient, delivery_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return answer


def texted_code(gateway: SmsGateway) -> tuple[str, str]:
    """The first SMS sent: its delivery id and the code it carries."""
    request = gateway.requests[0]
    assert request.json["to"] == PHONE
    [code] = re.findall(r"\b\d{6}\b", request.json["body"])
    return request.json["id"], code


def the_user(engine: Engine) -> dict[str, Any]:
    [user] = rows(engine, "users")
    return user


def test_a_mailed_activation_code_refused_5_1_1_goes_by_sms_and_that_code_activates(
    client: FlaskClient,
    engine: Engine,
    smtp: SinkServer,
    gateway: SmsGateway,
    fallback_relay: Relay,
) -> None:
    smtp.sink.mode = "reply:550 5.1.1"
    delivery_id = register(client)
    drain_until(fallback_relay, lambda: gateway.requests)
    fallback_id, code = texted_code(gateway)
    mailed = shown(client, delivery_id)
    assert (mailed["status"], mailed["reason"]) == ("failed", "address_rejected")
    assert mailed["fallback"] == {"id": fallback_id, "channel": "sms"}
    texted = shown(client, fallback_id)
    assert texted["status"] == "sent" and "fallback" not in texted
    answer = client.post("/v1/activations", json={"phone": PHONE, "code": code})
    assert answer.status_code == 200, answer.get_json()
    user = the_user(engine)
    assert user["status"] == "active"
    assert user["phone_proven_at"] is not None and user["email_proven_at"] is None
    # One fallback a code: nothing more goes, however often the relay looks, but the welcome
    # to the number just proven.
    fallback_relay.drain()
    assert [len(re.findall(r"\b\d{6}\b", r.json["body"])) for r in gateway.requests] == [1, 0]


def test_a_provider_down_longer_than_the_setting_sends_the_code_by_sms_the_first_still_valid(
    client: FlaskClient,
    engine: Engine,
    settings: Settings,
    smtp: SinkServer,
    gateway: SmsGateway,
    fallback_relay: Relay,
) -> None:
    smtp.sink.mode = "reply:421"
    started = time.monotonic()
    delivery_id = register(client)
    fallback_relay.drain()
    waiting = shown(client, delivery_id)
    assert (waiting["status"], waiting["reason"]) == ("queued", "provider_unavailable")
    assert "fallback" not in waiting and gateway.requests == []
    drain_until(fallback_relay, lambda: gateway.requests)
    assert time.monotonic() - started >= 2.0
    fallback_id, texted = texted_code(gateway)
    mailed = shown(client, delivery_id)
    assert mailed["status"] == "queued" and mailed["fallback"] == {
        "id": fallback_id,
        "channel": "sms",
    }
    # The provider back, the first code arrives too and works: either code activates.
    [mail] = [row for row in rows(engine, "outbox") if row["channel"] == "email"]
    first = SecretBox(settings.secret_key).open(mail["secret_params"])["code"]
    assert first != texted
    smtp.sink.mode = "accept"
    drain_until(fallback_relay, lambda: smtp.sink.received)
    answer = client.post("/v1/activations", json={"email": EMAIL, "code": first})
    assert answer.status_code == 200, answer.get_json()
    assert the_user(engine)["email_proven_at"] is not None
    assert len(gateway.requests) == 1


def test_a_reset_code_never_falls_back_to_an_unproven_phone(
    client: FlaskClient,
    engine: Engine,
    smtp: SinkServer,
    gateway: SmsGateway,
    fallback_relay: Relay,
) -> None:
    register(client)
    drain_until(fallback_relay, lambda: smtp.sink.received)
    [activation] = smtp.sink.received
    [code] = re.findall(r"\b\d{6}\b", activation.get_body(("plain",)).get_content())
    assert client.post("/v1/activations", json={"email": EMAIL, "code": code}).status_code == 200
    smtp.sink.mode = "reply:550 5.1.1"
    answer = client.post("/v1/password-resets", json={"email": EMAIL})
    assert answer.status_code == 202, answer.get_json()
    reset_id = answer.get_json()["delivery"]["id"]
    drain_until(fallback_relay, lambda: shown(client, reset_id)["status"] != "queued")
    fallback_relay.drain()
    assert gateway.requests == []
    [reset] = [row for row in rows(engine, "outbox") if row["purpose"] == "password_reset"]
    assert reset["fallback_at"] is not None and reset["fallback_id"] is None


def test_a_fallback_never_passes_the_regions_hour(
    env: dict[str, str],
    engine: Engine,
    smtp: SinkServer,
    gateway: SmsGateway,
    make_relay: MakeRelay,
) -> None:
    client = create_app(
        {**env, "CODE_FALLBACK_AFTER": "2", "SMS_REGION_HOURLY_LIMIT": "1"}
    ).test_client()
    relay = make_relay(
        code_fallback_after=2,
        sms_url=gateway.url + "/sms",
        sms_token=TOKEN,
        sms_region_hourly_limit=1,
    )
    smtp.sink.mode = "reply:550 5.1.1"
    delivery_id = register(client)
    # Another number of the region takes its hour before the relay sees the refusal.
    other = client.post("/v1/registrations", json={"phone": "+33612345679", "password": PASSWORD})
    assert other.status_code == 202, other.get_json()
    drain_until(relay, lambda: shown(client, delivery_id)["status"] == "failed")
    relay.drain()
    assert [request.json["to"] for request in gateway.requests] == ["+33612345679"]
    assert "fallback" not in shown(client, delivery_id)


def test_a_fallback_never_passes_the_hour_of_the_client_that_asked_for_the_code(
    env: dict[str, str],
    smtp: SinkServer,
    gateway: SmsGateway,
    make_relay: MakeRelay,
) -> None:
    """The registration naming a phone paid its client's one SMS up front; the fallback would
    be a second."""
    client = create_app(
        {**env, "CODE_FALLBACK_AFTER": "2", "SMS_CLIENT_HOURLY_LIMIT": "1"}
    ).test_client()
    relay = make_relay(
        code_fallback_after=2,
        sms_url=gateway.url + "/sms",
        sms_token=TOKEN,
        sms_client_hourly_limit=1,
    )
    smtp.sink.mode = "reply:550 5.1.1"
    delivery_id = register(client)
    drain_until(relay, lambda: shown(client, delivery_id)["status"] == "failed")
    relay.drain()
    assert gateway.requests == []
    assert "fallback" not in shown(client, delivery_id)


def test_a_resend_to_a_suppressed_address_falls_back_and_its_delivery_reads_as_before(
    client: FlaskClient,
    engine: Engine,
    smtp: SinkServer,
    gateway: SmsGateway,
    fallback_relay: Relay,
) -> None:
    """A resend's answer must not tell an account: its delivery never names a fallback."""
    smtp.sink.mode = "reply:550 5.1.1"
    register(client)
    drain_until(fallback_relay, lambda: gateway.requests)
    let_time_pass(engine, 61)
    answer = client.post("/v1/activations/resend", json={"email": EMAIL})
    assert answer.status_code == 202, answer.get_json()
    resend_id = answer.get_json()["delivery"]["id"]
    drain_until(fallback_relay, lambda: len(gateway.requests) == 2)
    [resent] = [row for row in rows(engine, "outbox") if row["public_id"] == resend_id]
    assert (resent["status"], resent["dead_reason"]) == ("dead", "suppressed")
    assert resent["fallback_id"] == gateway.requests[1].json["id"]
    view = shown(client, resend_id)
    assert view == {
        "id": resend_id,
        "channel": "email",
        "status": "sent",
        "attempts": 1,
        "can_resend": False,
        "reason": None,
        "retry_after": view["retry_after"],
        "next_attempt_after": None,
    }
    # The fallback of the newest code activates (the resend ended the codes before it).
    [code] = re.findall(r"\b\d{6}\b", gateway.requests[1].json["body"])
    assert client.post("/v1/activations", json={"phone": PHONE, "code": code}).status_code == 200


def test_no_fallback_by_sms_where_sms_is_not_offered(
    client: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    relay = make_relay(code_fallback_after=2, sms_url=None)
    smtp.sink.mode = "reply:550 5.1.1"
    delivery_id = register(client)
    drain_until(relay, lambda: shown(client, delivery_id)["status"] == "failed")
    [mail] = rows(engine, "outbox")
    assert mail["fallback_at"] is not None and mail["fallback_id"] is None
