"""The relay against a real HTTP server standing in for the SMS gateway: the spec's contract."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from outbox_relay.bootstrap import build_relay
from outbox_relay.channels import ProviderChannel
from outbox_relay.channels.factory import default_channels
from outbox_relay.channels.sms import SmsApiChannel
from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import outbox
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.sms_providers import gateway as gateway_spec
from support.constants import MakeRelay
from support.rows import rows
from support.sms_gateway import Behaviour, GatewayRequest, SmsGateway

PHONE = "+33612345678"
TOKEN = "gw-token"
PATH = "/sms"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server on a free port, answering 202 unless a test scripts otherwise."""
    with SmsGateway(mode=202, hang_seconds=6.0) as server:
        yield server


@pytest.fixture
def sms_relay(make_relay: MakeRelay, gateway: SmsGateway) -> Relay:
    """A relay whose SMS channel is the gateway channel pointed at `gateway`."""
    return make_relay(sms_url=gateway.url + PATH, sms_token=TOKEN)


def queue_sms(client: FlaskClient) -> str:
    """Register by phone; the public id of the activation SMS queued."""
    response = client.post(
        "/v1/registrations", json={"phone": PHONE, "password": "correct horse battery staple"}
    )
    assert response.status_code == 202
    delivery = response.get_json()["delivery"]
    assert delivery["channel"] == "sms"
    delivery_id: str = delivery["id"]
    return delivery_id


def the_row(engine: Engine) -> dict[str, Any]:
    [row] = rows(engine, "outbox")
    return row


def pending_code(engine: Engine, settings: Settings) -> str:
    """The code the queued SMS carries, decrypted from the pending row."""
    row = the_row(engine)
    assert row["status"] == "pending" and row["secret_params"] is not None
    code: str = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    assert re.fullmatch(r"\d{6}", code)
    return code


def outcomes(engine: Engine) -> list[str]:
    return [a["outcome"] for a in rows(engine, "outbox_attempts")]


def make_due(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))


def assert_contract(request: GatewayRequest, delivery_id: str, code: str) -> None:
    """One request as the spec's SMS gateway contract describes it."""
    assert (request.method, request.path) == ("POST", PATH)
    assert request.json == {"id": delivery_id, "to": PHONE, "body": request.json["body"]}
    assert re.findall(r"\b\d{6}\b", request.json["body"]) == [code]
    assert request.header("Idempotency-Key") == delivery_id
    content_type = request.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json"


@pytest.mark.parametrize("status", [202, 200])
def test_2xx_is_sent_per_the_gateway_contract(
    client: FlaskClient,
    sms_relay: Relay,
    engine: Engine,
    settings: Settings,
    gateway: SmsGateway,
    status: int,
) -> None:
    gateway.mode = status
    delivery_id = queue_sms(client)
    code = pending_code(engine, settings)
    assert sms_relay.drain() == 1
    row = the_row(engine)
    assert row["public_id"] == delivery_id and row["recipient"] == PHONE
    assert (row["status"], row["attempts"], row["secret_params"]) == ("sent", 1, None)
    assert (row["last_error"], row["dead_reason"], row["locked_until"]) == (None, None, None)
    assert row["sent_at"] is not None
    assert outcomes(engine) == ["sent"]
    [request] = gateway.requests
    assert_contract(request, delivery_id, code)
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_without_sms_token_no_authorization_header_is_sent(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    settings: Settings,
    gateway: SmsGateway,
) -> None:
    relay = make_relay(sms_url=gateway.url + PATH, sms_token=None)
    delivery_id = queue_sms(client)
    code = pending_code(engine, settings)
    assert relay.drain() == 1
    assert the_row(engine)["status"] == "sent"
    [request] = gateway.requests
    assert_contract(request, delivery_id, code)
    assert request.header("Authorization") is None


def assert_retried_with_the_same_key(
    relay: Relay, engine: Engine, gateway: SmsGateway, delivery_id: str, error: str
) -> None:
    """After one transient failure: pending, retried when due, sent with the same key and id."""
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["dead_reason"]) == ("pending", 1, None)
    assert re.search(error, str(row["last_error"])), row["last_error"]
    assert row["secret_params"] is not None and row["claim_token"] is None
    assert outcomes(engine) == ["transient"]
    make_due(engine)
    assert relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["secret_params"]) == ("sent", 2, None)
    assert outcomes(engine) == ["transient", "sent"]
    first, second = gateway.requests
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == delivery_id
    assert first.json["id"] == second.json["id"] == delivery_id
    assert first.json == second.json  # same code too: a retry resends, it does not re-issue


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        pytest.param(429, r"HTTP 429 Too Many Requests", id="429"),
        pytest.param(500, r"HTTP 500 Internal Server Error", id="500"),
        pytest.param(503, r"HTTP 503 Service Unavailable", id="503"),
        pytest.param(408, r"HTTP 408 Request Timeout", id="408"),
        # httpx surfaces a RST while waiting for the answer as ReadError (ECONNRESET), an orderly
        # close without an answer as RemoteProtocolError.
        pytest.param("reset", r"ReadError|RemoteProtocolError|reset", id="reset"),
    ],
)
def test_transient_answers_are_retried_with_the_same_idempotency_key(
    client: FlaskClient,
    sms_relay: Relay,
    engine: Engine,
    gateway: SmsGateway,
    behaviour: Behaviour,
    error: str,
) -> None:
    gateway.script = [behaviour]
    delivery_id = queue_sms(client)
    assert sms_relay.drain() == 1
    assert [r.behaviour for r in gateway.requests] == [behaviour]
    assert_retried_with_the_same_key(sms_relay, engine, gateway, delivery_id, error)


def test_a_gateway_hanging_past_the_timeout_is_transient(
    client: FlaskClient, settings: Settings, engine: Engine, gateway: SmsGateway
) -> None:
    url = gateway.url + PATH
    changed = settings.replace(sms_url=url, sms_token=TOKEN)
    others = default_channels(changed)

    def channels(kind: str) -> ProviderChannel:
        return (
            SmsApiChannel(gateway_spec.SPEC, changed.sms, changed, timeout=1.0)
            if kind == "sms"
            else others(kind)
        )

    relay = build_relay(changed, create_engine_for(settings.database_url), channels=channels)
    try:
        gateway.script = ["hang"]
        delivery_id = queue_sms(client)
        before = time.monotonic()
        assert relay.drain() == 1
        elapsed = time.monotonic() - before
        # Gave up at the client's timeout, not when the gateway finally answered.
        assert 0.9 <= elapsed < gateway.hang_seconds - 1, elapsed
        assert_retried_with_the_same_key(relay, engine, gateway, delivery_id, r"ReadTimeout")
    finally:
        relay.close()
        relay.engine.dispose()


@pytest.mark.parametrize("status", [400, 410, 422])
def test_other_4xx_are_permanent_and_never_retried(
    client: FlaskClient,
    sms_relay: Relay,
    engine: Engine,
    gateway: SmsGateway,
    status: int,
) -> None:
    gateway.mode = status
    delivery_id = queue_sms(client)
    assert sms_relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "permanent_error", 1)
    assert f"HTTP {status}" in str(row["last_error"])
    assert row["secret_params"] is None and row["sent_at"] is None
    assert outcomes(engine) == ["permanent"]
    make_due(engine)
    assert sms_relay.drain() == 0
    assert len(gateway.requests) == 1
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


def test_max_attempts_of_transient_answers_is_dead(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, gateway: SmsGateway
) -> None:
    gateway.mode = 503
    relay = make_relay(sms_url=gateway.url + PATH, sms_token=TOKEN, relay_max_attempts=2)
    delivery_id = queue_sms(client)
    assert relay.drain() == 1
    assert the_row(engine)["status"] == "pending"
    make_due(engine)
    assert relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "max_attempts", 2)
    assert "HTTP 503" in str(row["last_error"])
    assert row["secret_params"] is None
    assert outcomes(engine) == ["transient", "transient"]
    make_due(engine)
    assert relay.drain() == 0
    keys = [r.header("Idempotency-Key") for r in gateway.requests]
    assert keys == [delivery_id, delivery_id]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_401_403_404_pause_the_gateway_and_the_message_waits_for_it(
    client: FlaskClient,
    sms_relay: Relay,
    engine: Engine,
    gateway: SmsGateway,
    status: int,
) -> None:
    """A wrong token or URL is the provider's failure: nothing dies, the gateway is paused, and
    one message goes through as the probe once the backoff has passed."""
    gateway.mode = status
    delivery_id = queue_sms(client)
    assert sms_relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("pending", None, 0)
    assert f"HTTP {status}" in str(row["last_error"])
    assert outcomes(engine) == ["provider_down"]
    assert sms_relay.providers.paused_channels() == ["sms"] or gateway.requests
    gateway.mode = 202
    deadline = time.monotonic() + 5
    while the_row(engine)["status"] != "sent":
        assert time.monotonic() < deadline, "the paused gateway was never tried again"
        sms_relay.drain()
        time.sleep(0.01)
    assert outcomes(engine) == ["provider_down", "sent"]
    assert [r.header("Idempotency-Key") for r in gateway.requests] == [delivery_id] * 2
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_a_trial_message_that_never_reaches_the_gateway_leaves_the_next_as_the_probe(
    client: FlaskClient, sms_relay: Relay, engine: Engine, gateway: SmsGateway
) -> None:
    """A paused gateway is probed by letting one message through. If that message fails
    before any request (here its secret was sealed under another key), it proves nothing:
    the next message must be the probe, not the gateway stay paused until a restart. (The
    message itself is handed back for a relay holding its key, never killed.)"""
    gateway.mode = 401
    queue_sms(client)
    assert sms_relay.drain() == 1
    with engine.begin() as connection:
        sealed = SecretBox("another key, as before a rotation!").seal({"code": "123456"})
        connection.execute(update(outbox).values(secret_params=sealed))
    gateway.mode = 202
    deadline = time.monotonic() + 5
    # Tried as the probe, it is handed back, due only after a lease.
    while the_row(engine)["next_attempt_at"] < utcnow() + timedelta(seconds=30):
        assert time.monotonic() < deadline, "the paused gateway was never tried again"
        sms_relay.drain()
        time.sleep(0.01)
    assert the_row(engine)["status"] == "pending"
    body = {"phone": "+33612345679", "password": "correct horse battery staple"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    deadline = time.monotonic() + 5
    while rows(engine, "outbox")[-1]["status"] != "sent":
        assert time.monotonic() < deadline, f"still paused: {sms_relay.providers.status()}"
        sms_relay.drain()
        time.sleep(0.01)
    assert [r.json["to"] for r in gateway.requests] == [PHONE, "+33612345679"]


def test_sms_queued_while_sms_url_is_unset_waits_and_never_dies(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, gateway: SmsGateway
) -> None:
    queue_sms(client)
    # SMS_URL unset where the relay runs (the API that queued it had one): nothing can send it.
    unset = make_relay(sms_url=None, relay_max_attempts=1)
    for _ in range(3):
        assert unset.drain() == 0
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["dead_reason"]) == ("pending", 0, None)
    assert "no sms provider configured" in unset.providers.status()
    # Once SMS_URL is set, it leaves.
    assert make_relay(sms_url=gateway.url + PATH, sms_token=TOKEN).drain() == 1
    assert the_row(engine)["status"] == "sent"
