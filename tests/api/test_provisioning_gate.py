"""A sign-in that waits for provisioning (SPEC, LOGIN_REQUIRES_PROVISIONING): the application
answers `account.activated` from a real HTTP server, a real relay delivers it, and sign-ins by
password and by code are refused until the answer is 2xx, after the credentials are checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.accounts.provisioning import LATEST, SOONEST, WHILE_DEAD
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.rows import forget_throttles, rows, wait_out_deferrals
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer, code_in

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PENDING = "https://outpost.dev/problems/provisioning-pending"


@pytest.fixture
def gated_app(env: dict[str, str], receiver: SmsGateway) -> Iterator[Flask]:
    app = create_app(
        {
            **env,
            "WEBHOOK_URL": receiver.url + "/hooks",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LOGIN_REQUIRES_PROVISIONING": "true",
            "ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def api(gated_app: Flask) -> FlaskClient:
    return gated_app.test_client()


@pytest.fixture
def relay(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    """A relay whose retry of a refused event waits half a minute: a test makes it due."""
    return make_relay(
        webhook_url=receiver.url + "/hooks",
        webhook_secret=WEBHOOK_KEY,
        relay_backoff_base=30.0,
        relay_backoff_cap=60.0,
    )


def sign_up(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> int:
    """Register and activate `email` (its events delivered as the receiver answers); its id."""
    body = {"email": email, "password": PASSWORD}
    assert api.post("/v1/registrations", json=body).status_code == 202
    relay.drain()
    code = code_in([m for m in smtp.sink.received if m["To"] == email][-1])
    assert api.post("/v1/activations", json={"email": email, "code": code}).status_code == 200
    relay.drain()
    found = api.get("/v1/admin/accounts", query_string={"email": email}, headers=BEARER)
    return int(found.get_json()["items"][0]["id"])


def activated_event(engine: Engine) -> dict[str, Any]:
    [event] = [r for r in rows(engine, "outbox") if r["purpose"] == "account.activated"]
    return event


def log_in(api: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return api.post("/v1/logins", json={"email": email, "password": password})


def assert_waits(answer: Any, low: int = SOONEST, high: int = LATEST) -> None:
    assert answer.status_code == 503, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"] == PENDING
    assert low <= int(answer.headers["Retry-After"]) <= high


def test_a_password_sign_in_waits_until_the_application_answers_2xx(
    api: FlaskClient, relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    receiver.mode = 500
    user_id = sign_up(api, relay, smtp, "ida@example.com")
    event = activated_event(engine)
    assert (event["status"], event["attempts"]) == ("pending", 1)

    assert_waits(log_in(api, "ida@example.com"))
    # No oracle: a wrong password, an unknown address answer as they always do.
    wrong = log_in(api, "ida@example.com", "not the password at all")
    unknown = log_in(api, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_data() == unknown.get_data()

    receiver.mode = 200
    wait_out_deferrals(engine)  # the relay's retry comes due
    relay.drain()
    assert activated_event(engine)["status"] == "sent"
    right = log_in(api, "ida@example.com")
    assert (right.status_code, right.get_json()) == (200, {"user_id": user_id, "status": "active"})


def test_a_sign_in_code_waits_and_stays_valid(
    api: FlaskClient, relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    receiver.mode = 500
    sign_up(api, relay, smtp, "jo@example.com")
    forget_throttles(engine)
    assert api.post("/v1/login-codes", json={"email": "jo@example.com"}).status_code == 202
    relay.drain()
    code = code_in(smtp.sink.received[-1])
    wrong = "000000" if code != "000000" else "111111"
    confirm = "/v1/login-codes/confirm"
    assert api.post(confirm, json={"email": "jo@example.com", "code": wrong}).status_code == 400
    assert_waits(api.post(confirm, json={"email": "jo@example.com", "code": code}))

    receiver.mode = 200
    wait_out_deferrals(engine)
    relay.drain()
    signed_in = api.post(confirm, json={"email": "jo@example.com", "code": code})
    assert signed_in.status_code == 200, signed_in.get_json()


def test_a_dead_event_waits_for_the_operators_retry_and_a_discard_lifts_it(
    api: FlaskClient, relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    receiver.mode = 410  # the event dies at once
    user_id = sign_up(api, relay, smtp, "kai@example.com")
    event = activated_event(engine)
    assert event["status"] == "dead"
    assert_waits(log_in(api, "kai@example.com"), WHILE_DEAD, WHILE_DEAD)
    [stranded] = api.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    assert (stranded["user_id"], stranded["remedy"]) == (user_id, "retry_event")
    assert stranded["why"] == (
        "account.activated event dead (permanent_error): it cannot sign in until the "
        "application answers"
    )

    receiver.mode = 200
    retry = f"/v1/admin/dead-letters/{event['public_id']}/retry"
    assert api.post(retry, headers=BEARER).get_json()["outcome"] == "requeued"
    assert_waits(log_in(api, "kai@example.com"))  # on its way, not yet answered
    relay.drain()
    assert log_in(api, "kai@example.com").status_code == 200

    # An operator who discards a dead event decides the account goes on without it.
    receiver.mode = 410
    sign_up(api, relay, smtp, "lea@example.com")
    [dead] = [
        r
        for r in rows(engine, "outbox")
        if r["purpose"] == "account.activated" and r["status"] == "dead"
    ]
    assert log_in(api, "lea@example.com").status_code == 503
    discard = f"/v1/admin/dead-letters/{dead['public_id']}/discard"
    assert api.post(discard, headers=BEARER).get_json()["discarded"] is True
    assert log_in(api, "lea@example.com").status_code == 200


def test_the_gate_needs_a_webhook_url(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^LOGIN_REQUIRES_PROVISIONING: needs WEBHOOK_URL"):
        Settings.from_env({**env, "LOGIN_REQUIRES_PROVISIONING": "true"})
