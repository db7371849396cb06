"""Closed sign-up and invitations (SPEC "The application's say over sign-ups"): with SIGNUP=closed
a registration is `403 …/signup-closed` and writes nothing; `POST /v1/admin/accounts` makes a
pending account and sends it an activation code that activates, whatever SIGNUP says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.dashboard import signed_in
from support.rows import count, rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
ADA = "ada@example.com"
CLOSED = "https://outpost.dev/problems/signup-closed"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment (the relay's too) with sign-up closed and the admin API on."""
    return {**env, "SIGNUP": "closed", "ADMIN_TOKEN": ADMIN_TOKEN}


@pytest.fixture
def open_app(env: dict[str, str]) -> Iterator[Flask]:
    """The same service with sign-up open."""
    app = create_app({**env, "SIGNUP": "open"})
    yield app
    app.extensions["outpost"].engine.dispose()


def register(client: FlaskClient, body: Any) -> Any:
    return client.post("/v1/registrations", json=body)


def invite(client: FlaskClient, **address: str) -> Any:
    return client.post("/v1/admin/accounts", json=address, headers=AUTH)


def written(engine: Engine) -> tuple[int, ...]:
    """The rows a request could write: accounts, messages, history, throttle counts, audit."""
    tables = ("users", "outbox", "account_events", "throttle_events", "operator_actions")
    return tuple(count(engine, table) for table in tables)


def test_signup_is_open_or_closed_and_nothing_else() -> None:
    assert Settings.from_env({"SECRET_KEY": SECRET_KEY}).signup_mode == "open"
    closed = Settings.from_env({"SECRET_KEY": SECRET_KEY, "SIGNUP": "Closed"})
    assert closed.signup_mode == "closed"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "SIGNUP": "invite"})
    assert str(refused.value) == "SIGNUP: open or closed, not 'invite'"


def test_a_closed_signup_refuses_every_registration_alike_and_writes_nothing(
    client: FlaskClient, open_app: Flask, engine: Engine
) -> None:
    """The answer reads the setting alone: a taken address, a free one and a body that is no
    registration at all get the same bytes, and no row anywhere (nor a per-IP count)."""
    taken = {"email": ADA, "password": PASSWORD}
    assert register(open_app.test_client(), taken).status_code == 202
    before = written(engine)
    answers = [
        register(client, taken),
        register(client, {"email": "bob@example.com", "password": PASSWORD}),
        register(client, {"phone": "+33612345678", "password": "short"}),
        register(client, ["not", "a", "registration"]),
    ]
    assert {(a.status_code, a.get_data()) for a in answers} == {
        (403, answers[0].get_data()),
    }
    problem = answers[0].get_json()
    assert (problem["type"], problem["status"]) == (CLOSED, 403)
    assert written(engine) == before


def test_a_closed_signup_answers_without_the_database(app: Flask, client: FlaskClient) -> None:
    """Closed is read before anything touches the database: with none to reach, the answer is
    still 403 (an open sign-up's would be 503)."""
    deps = app.extensions["outpost"]
    unreachable = create_engine("sqlite:////nonexistent-directory/outpost.db")
    app.extensions["outpost"] = replace(deps, engine=unreachable)
    try:
        answer = register(client, {"email": ADA, "password": PASSWORD})
    finally:
        app.extensions["outpost"] = deps
    assert (answer.status_code, answer.get_json()["type"]) == (403, CLOSED)


def test_an_invitation_sends_an_activation_code_that_activates(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    answer = invite(client, email=" Ada@Example.com ")
    assert answer.status_code == 201
    invited = answer.get_json()
    [user] = rows(engine, "users")
    assert invited == {"user_id": user["id"], "delivery": invited["delivery"]}
    assert (user["email"], user["status"]) == (ADA, "pending")
    assert client.get(f"/v1/deliveries/{invited['delivery']}").status_code == 200
    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert mail["To"] == ADA
    activation = {"email": ADA, "code": code_in(mail), "password": PASSWORD}
    activated = client.post("/v1/activations", json=activation)
    assert (activated.status_code, activated.get_json()) == (200, {"status": "active"})
    login = client.post("/v1/logins", json={"email": ADA, "password": PASSWORD})
    assert login.status_code == 200
    events = client.get(f"/v1/admin/accounts/{user['id']}/events", headers=AUTH).get_json()
    history = [(e["type"], e["detail"]) for e in events["items"]]
    assert history[-2:] == [
        ("activated", None),
        ("invited", {"channel": "email", "by": "alice@127.0.0.1"}),
    ]


def test_the_invitation_is_audited_by_who_and_which_address_and_keeps_no_secret(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    invited = invite(client, email=ADA).get_json()
    relay.drain()
    code = code_in(smtp.sink.wait_for(1)[0])
    [action] = rows(engine, "operator_actions")
    suppressor = client.application.extensions["outpost"].suppressor
    with engine.connect() as connection:
        address_hash = suppressor.of(connection).hash(ADA)
    assert (action["actor"], action["action"], action["target"]) == (
        "alice@127.0.0.1",
        "invite",
        str(invited["user_id"]),
    )
    assert action["details"] == {
        "outcome": "invited",
        "channel": "email",
        "address": address_hash,
        "delivery": invited["delivery"],
    }
    kept = json.dumps(
        [rows(engine, t) for t in ("operator_actions", "account_events")], default=str
    )
    assert code not in kept and "ada@" not in kept
    [entry] = client.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert entry["summary"] == "pending account made, activation code sent by email"


@pytest.mark.parametrize("activated", [False, True], ids=["pending", "active"])
def test_an_invitation_to_a_held_address_makes_nothing_and_sends_nothing(
    open_app: Flask,
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    activated: bool,
) -> None:
    """Whoever registered the address (its owner, or someone pre-hijacking it with their own
    password) keeps the account as it is: no code to the address that would have its owner
    activate someone else's password, no password or address changed."""
    public = open_app.test_client()
    assert register(public, {"email": ADA, "password": PASSWORD}).status_code == 202
    relay.drain()
    if activated:
        code = code_in(smtp.sink.wait_for(1)[0])
        assert public.post("/v1/activations", json={"email": ADA, "code": code}).status_code == 200
        relay.drain()
    [user] = rows(engine, "users")
    messages = count(engine, "outbox")
    refused = invite(client, email=ADA)
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["type"] == "https://outpost.dev/problems/account-exists"
    assert f"Account {user['id']} holds this address" in problem["detail"]
    assert rows(engine, "users") == [user] and count(engine, "outbox") == messages
    [action] = rows(engine, "operator_actions")
    assert (action["target"], action["details"]["outcome"]) == (str(user["id"]), "account_exists")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": ADA, "phone": "+33612345678"}, "phone"),
        ({"email": "not an address"}, "email"),
        ({"phone": "+33612345678", "password": PASSWORD}, "password"),
    ],
    ids=["none", "both", "not-an-address", "unknown-field"],
)
def test_an_invitation_names_one_address(
    client: FlaskClient, engine: Engine, body: dict[str, str], field: str
) -> None:
    answer = client.post("/v1/admin/accounts", json=body, headers=AUTH)
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.get_json()["errors"]] == [f"#/{field}"]
    assert written(engine)[:3] == (0, 0, 0)


def test_an_invitation_by_sms_needs_sms(env: dict[str, str], engine: Engine) -> None:
    without_sms = create_app({**env, "SMS_URL": ""})
    try:
        answer = invite(without_sms.test_client(), phone="+33612345678")
    finally:
        without_sms.extensions["outpost"].engine.dispose()
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.get_json()["errors"]] == ["#/phone"]
    assert count(engine, "users") == 0


def test_an_invitation_by_sms_texts_the_code(client: FlaskClient, engine: Engine) -> None:
    answer = invite(client, phone="+33612345678")
    assert answer.status_code == 201
    [row] = rows(engine, "outbox")
    assert (row["recipient"], row["channel"], row["purpose"]) == (
        "+33612345678",
        "sms",
        "activation",
    )


def test_only_an_operator_invites(client: FlaskClient, engine: Engine) -> None:
    anonymous = client.post("/v1/admin/accounts", json={"email": ADA})
    assert anonymous.status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.post("/v1/admin/accounts", json={"email": ADA}, headers=wrong).status_code == 401
    assert count(engine, "users") == 0


def test_an_open_signup_takes_invitations_too(open_app: Flask, engine: Engine) -> None:
    answer = invite(open_app.test_client(), email=ADA)
    assert answer.status_code == 201
    assert [u["status"] for u in rows(engine, "users")] == ["pending"]


def test_the_dashboard_invites_from_a_lookup_that_finds_no_account(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    token = signed_in(client)
    page = client.get("/admin/lookup", query_string={"address": ADA}).get_data(as_text=True)
    assert "No account holds" in page and 'id="invite"' in page
    done = client.post("/admin/accounts/invite", data={"csrf_token": token, "address": ADA})
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    [user] = rows(engine, "users")
    assert f"Account {user['id']} made, pending" in page and 'id="invite"' not in page
    assert relay.drain() == 1
    code = code_in(smtp.sink.wait_for(1)[0])
    activation = {"email": ADA, "code": code, "password": PASSWORD}
    assert client.post("/v1/activations", json=activation).status_code == 200
    again = client.post("/admin/accounts/invite", data={"csrf_token": token, "address": ADA})
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert f"Account {user['id']} holds that address; nothing made or sent." in page
    [first, second] = rows(engine, "operator_actions")
    assert first["actor"].startswith("dashboard@") and second["details"]["outcome"] == (
        "account_exists"
    )


def test_the_dashboard_refuses_an_invitation_without_its_csrf_token_or_an_address(
    client: FlaskClient, engine: Engine
) -> None:
    token = signed_in(client)
    refused = client.post("/admin/accounts/invite", data={"address": ADA})
    assert refused.status_code == 403
    wrong = client.post("/admin/accounts/invite", data={"csrf_token": token, "address": "ada"})
    assert wrong.status_code == 400 and "Must be an email address" in wrong.get_data(as_text=True)
    assert count(engine, "users") == 0
