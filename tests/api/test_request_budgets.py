"""Budgets counted where a message is written, whatever route wrote it (SPEC "Throttles"):
every SMS a request causes takes its client's and its region's hour, and the "account exists"
notice is one purpose; and what clients see of a delivery whose answer must stay alike."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.deliveries import but_the_wait
from support.rows import let_time_pass, rows
from support.smtp_sink import SinkServer, code_in
from support.sns import BEARER, TOKEN

EMAIL, PHONE, UNKNOWN_PHONE = "ada@example.com", "+33612345678", "+33698765432"
OTHER = "bo@example.com"
PASSWORD = "correct horse battery staple"
CLIENT_LIMIT = 4


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[Flask]:
    """The API with a small SMS hour per client, taking providers' events; the per-address
    hour wide enough that only the budgets under test refuse."""
    app = create_app(
        {
            **env,
            "SMS_CLIENT_HOURLY_LIMIT": str(CLIENT_LIMIT),
            "THROTTLE_PER_HOUR": "100",
            "PROVIDER_EVENTS_TOKEN": TOKEN,
        }
    )
    yield app
    app.extensions["outpost"].engine.dispose()


def default_hour_app(settings: Settings) -> Flask:
    """The API with the default per-address hour (five), on the test database."""
    return create_app(
        {
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": settings.secret_key,
            "SMS_URL": "log:",
            "IP_RATE_LIMIT": "100000",
        }
    )


def _active(client: FlaskClient, engine: Engine, settings: Settings, body: dict[str, Any]) -> None:
    """Register `body` (reached by mail) and activate it by the code mailed to it."""
    assert client.post("/v1/registrations", json={**body, "password": PASSWORD}).status_code == 202
    [row] = [r for r in rows(engine, "outbox") if r["purpose"] == "activation"][-1:]
    code = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    activation = {"email": body["email"], "code": code}
    assert client.post("/v1/activations", json=activation).status_code == 200


def _sms_to(engine: Engine, number: str) -> list[dict[str, Any]]:
    """The SMS written to `number` that the relay is to send (not withheld)."""
    return [
        r
        for r in rows(engine, "outbox")
        if r["recipient"] == number and r["channel"] == "sms" and not r["withhold"]
    ]


def test_resends_naming_an_email_take_the_clients_sms_hour(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """A resend naming only the email, with `channel: sms`, counts against
    SMS_CLIENT_HOURLY_LIMIT: here the account, activated by SMS, never proved its email, so the
    resend texts nothing (an unproven address holds nothing) and still takes the client's hour,
    as a withheld SMS does. The registration's SMS took one, the welcome another (texted, the
    email being unproven)."""
    _active(client, engine, settings, {"email": EMAIL, "phone": PHONE, "channel": "sms"})
    answers = []
    for _ in range(CLIENT_LIMIT + 3):
        let_time_pass(engine, 61)
        resend = {"email": EMAIL, "channel": "sms"}
        answers.append(client.post("/v1/activations/resend", json=resend).status_code)
    assert answers == [202] * (CLIENT_LIMIT - 2) + [429] * 5
    # The activation's SMS and the welcome's; the resends' were withheld.
    assert len(_sms_to(engine, PHONE)) == 2


def test_account_exists_is_one_bucket_whatever_route_causes_it(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """Registrations and address changes naming a registered address each have their own
    per-route hour, but its owner gets at most THROTTLE_PER_HOUR "account exists" notices."""
    _active(client, engine, settings, {"email": EMAIL})
    _active(client, engine, settings, {"email": OTHER})
    app = default_hour_app(settings)
    # The default per-address hour (five), on each route and on the notice alike.
    strict = app.test_client()
    # Four of each: within each route's hour (the first registration took one of its five).
    for _ in range(4):
        let_time_pass(engine, 61)
        body = {"email": EMAIL, "password": "another passphrase"}
        assert strict.post("/v1/registrations", json=body).status_code == 202
        let_time_pass(engine, 61)
        change = {"email": OTHER, "password": PASSWORD, "new_email": EMAIL}
        assert strict.post("/v1/address-changes", json=change).status_code == 202
    app.extensions["outpost"].engine.dispose()
    notices = [r for r in rows(engine, "outbox") if r["purpose"] == "account_exists"]
    assert len(notices) == 8
    assert len([n for n in notices if not n["withhold"]]) == settings.throttle_per_hour


def test_a_resend_delivery_reads_alike_for_known_and_unknown_numbers_after_a_receipt(
    client: FlaskClient, engine: Engine, settings: Settings, relay: Relay
) -> None:
    _active(client, engine, settings, {"email": EMAIL, "phone": PHONE, "channel": "sms"})
    let_time_pass(engine, 61)
    started = time.monotonic()
    known = client.post("/v1/activations/resend", json={"phone": PHONE}).get_json()
    unknown = client.post("/v1/activations/resend", json={"phone": UNKNOWN_PHONE}).get_json()
    relay.drain()
    events = {"events": [{"type": "delivery", "delivery_id": known["delivery"]["id"]}]}
    answer = client.post("/v1/provider-events", json=events, headers=BEARER)
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    views = [
        {**client.get(f"/v1/deliveries/{d['delivery']['id']}").get_json(), "id": None}
        for d in (known, unknown)
    ]
    shown = but_the_wait(views, started)
    assert shown[0] == shown[1]
    assert shown[0]["status"] == "sent"


def test_a_registrations_own_delivery_shows_no_receipt(
    client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    """Its answer too may be an owner's withheld notice, which never gets a receipt: a view
    that showed one would tell a number held by an account from a free one."""
    started = time.monotonic()
    registered = client.post("/v1/registrations", json={"email": EMAIL, "password": PASSWORD})
    delivery = registered.get_json()["delivery"]["id"]
    relay.drain()
    assert re.fullmatch(r"\d{6}", code_in(smtp.sink.received[-1]))
    before = client.get(f"/v1/deliveries/{delivery}").get_json()
    events = {"events": [{"type": "delivery", "delivery_id": delivery}]}
    assert client.post("/v1/provider-events", json=events, headers=BEARER).status_code == 200
    shown = client.get(f"/v1/deliveries/{delivery}").get_json()
    assert "delivered_at" not in shown
    earlier, later = but_the_wait([before, shown], started)
    assert earlier == later


def test_a_code_to_an_address_the_request_did_not_name_takes_that_addresses_hour(
    engine: Engine, settings: Settings
) -> None:
    """Resends naming an account's number, answered by mail, count against the mailbox's own
    hour: naming the account's other address is no way round its throttle (found by the
    attacker machine)."""
    app = default_hour_app(settings)
    client = app.test_client()
    body = {"email": EMAIL, "phone": PHONE, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    answers = []
    for _ in range(4):
        for named in ({"phone": PHONE}, {"email": EMAIL}):
            let_time_pass(engine, 61)
            resend = {**named, "channel": "email"}
            answers.append(client.post("/v1/activations/resend", json=resend).status_code)
    app.extensions["outpost"].engine.dispose()
    # Those naming the number are answered alike whatever the mailbox's hour holds; those
    # naming the mailbox meet its hour, which the others took from.
    assert answers[::2] == [202] * 4 and 429 in answers[1::2]
    codes = [r for r in rows(engine, "outbox") if r["purpose"] == "activation"]
    assert {r["recipient"] for r in codes} == {EMAIL}
    assert len([c for c in codes if not c["withhold"]]) == settings.throttle_per_hour
