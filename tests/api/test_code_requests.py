"""Resend and password reset answer with a delivery the client can follow, known address or
not (SPEC "No enumeration": an address no account uses gets its `no_account` notice)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from outbox_relay.relay import Relay
from support.deliveries import but_the_wait
from support.rows import count, forget_throttles, rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
KNOWN, UNKNOWN = "ada@example.com", "nobody@example.com"
ROUTES = {"resend": "/v1/activations/resend", "reset": "/v1/password-resets"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment with the API's public URL: a "no account" mail carries its
    unsubscribe link (without one it is withheld: tests/api/test_withheld.py)."""
    return {**env, "PUBLIC_URL": "https://api.outpost.test"}


def _register(client: FlaskClient, engine: Engine, status: str = "pending") -> None:
    body = {"email": KNOWN, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    with engine.begin() as connection:
        connection.execute(text("UPDATE users SET status = :status"), {"status": status})
        if status == "active":
            # Activated: its address proven, as an activation proves it.
            connection.execute(text("UPDATE users SET email_proven_at = CURRENT_TIMESTAMP"))
    forget_throttles(engine)


def _row(engine: Engine, public_id: str) -> dict[str, Any]:
    return next(r for r in rows(engine, "outbox") if r["public_id"] == public_id)


def _followed(client: FlaskClient, delivery_id: str) -> dict[str, Any]:
    """What GET /v1/deliveries says, but for the id."""
    response = client.get(f"/v1/deliveries/{delivery_id}")
    assert response.status_code == 200
    shown: dict[str, Any] = response.get_json()
    return {**shown, "id": None}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_an_unknown_address_gets_a_no_account_notice_the_client_can_follow(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer, route: str
) -> None:
    response = client.post(ROUTES[route], json={"email": UNKNOWN})
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["status"] == "accepted"
    delivery = answer["delivery"]
    assert (delivery["channel"], delivery["status"]) == ("email", "queued")
    message = _row(engine, delivery["id"])
    assert (message["purpose"], message["recipient"], message["user_id"]) == (
        "no_account",
        UNKNOWN,
        None,
    )
    assert message["secret_params"] is None
    assert (count(engine, "users"), count(engine, "verification_tokens")) == (0, 0)

    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert (str(mail["To"]), str(mail["Subject"])) == (
        UNKNOWN,
        "No Outpost account uses this address",
    )
    assert client.get(f"/v1/deliveries/{delivery['id']}").get_json()["status"] == "sent"


@pytest.mark.parametrize(
    ("route", "owner", "purpose"),
    [
        ("resend", "pending", "activation"),
        ("resend", "active", "account_exists"),
        ("reset", "pending", "password_reset"),
        ("reset", "active", "password_reset"),
    ],
)
def test_known_and_unknown_addresses_get_deliveries_that_answer_alike(
    client: FlaskClient, engine: Engine, route: str, owner: str, purpose: str
) -> None:
    """The 202s differ only by the delivery's id, and so do the deliveries they name, before
    and after the throttle's cooldown starts (can_resend, retry_after)."""
    _register(client, engine, owner)
    started = time.monotonic()
    known = client.post(ROUTES[route], json={"email": KNOWN})
    unknown = client.post(ROUTES[route], json={"email": UNKNOWN})
    assert known.status_code == unknown.status_code == 202
    assert known.headers["Content-Length"] == unknown.headers["Content-Length"]
    assert sorted(dict(known.headers)) == sorted(dict(unknown.headers))
    ids = [answer.get_json()["delivery"]["id"] for answer in (known, unknown)]
    assert [_row(engine, i)["purpose"] for i in ids] == [purpose, "no_account"]
    assert {**known.get_json()["delivery"], "id": None} == {
        **unknown.get_json()["delivery"],
        "id": None,
    }
    shown = but_the_wait([_followed(client, i) for i in ids], started)
    assert shown[0] == shown[1]
    assert shown[0]["can_resend"] is False


def test_a_resend_names_the_new_delivery_and_the_older_code_stops_working(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    first = client.post("/v1/registrations", json={"email": KNOWN, "password": PASSWORD})
    assert relay.drain() == 1
    old_code = code_in(smtp.sink.wait_for(1)[-1])
    forget_throttles(engine)
    resent = client.post("/v1/activations/resend", json={"email": KNOWN}).get_json()["delivery"]
    assert resent["id"] != first.get_json()["delivery"]["id"]
    assert client.get(f"/v1/deliveries/{resent['id']}").get_json()["status"] == "queued"
    assert relay.drain() == 1
    new_code = code_in(smtp.sink.wait_for(2)[-1])
    assert client.get(f"/v1/deliveries/{resent['id']}").get_json()["status"] == "sent"
    if old_code != new_code:
        refused = client.post("/v1/activations", json={"email": KNOWN, "code": old_code})
        assert refused.status_code == 400
    accepted = client.post("/v1/activations", json={"email": KNOWN, "code": new_code})
    assert accepted.status_code == 200


def test_the_notice_goes_to_the_address_named_and_the_client_hears_the_channel_it_asked(
    client: FlaskClient, engine: Engine
) -> None:
    """No phone was named: the notice goes by email, as a pending account's code would."""
    response = client.post("/v1/activations/resend", json={"email": UNKNOWN, "channel": "sms"})
    delivery = response.get_json()["delivery"]
    assert delivery["channel"] == "sms"
    message = _row(engine, delivery["id"])
    assert (message["channel"], message["recipient"]) == ("email", UNKNOWN)
    assert client.get(f"/v1/deliveries/{delivery['id']}").get_json()["channel"] == "sms"


def test_the_notice_is_throttled_like_any_message(client: FlaskClient, engine: Engine) -> None:
    """Per address and purpose: a second resend within the cooldown is refused, as for a known
    address, while a reset (another purpose) still goes."""
    assert client.post(ROUTES["resend"], json={"email": UNKNOWN}).status_code == 202
    again = client.post(ROUTES["resend"], json={"email": UNKNOWN})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    assert client.post(ROUTES["reset"], json={"email": UNKNOWN}).status_code == 202
    assert count(engine, "outbox", purpose="no_account") == 2


def test_a_number_no_account_uses_gets_its_notice_by_sms(
    client: FlaskClient, engine: Engine
) -> None:
    response = client.post(ROUTES["reset"], json={"phone": "+33612345678"})
    delivery = response.get_json()["delivery"]
    assert (response.status_code, delivery["channel"]) == (202, "sms")
    message = _row(engine, delivery["id"])
    assert (message["purpose"], message["channel"], message["recipient"]) == (
        "no_account",
        "sms",
        "+33612345678",
    )
