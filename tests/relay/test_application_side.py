"""The application's side: lifecycle events written with their change and delivered to a real
receiver, credential checks, erasure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from standardwebhooks.webhooks import Webhook

from api_service import create_app
from api_service.flows import login
from outbox_relay.relay import Relay
from shared.accounts import activation
from shared.database.models import outbox, users
from shared.database.throttle import Limit
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.rows import count, every_value_as_text, forget_throttles, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer, code_in
from support.timing import Pairs, alternating_pairs, assert_same_time

NEW_PASSWORD = "another long passphrase"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def hooked_app(env: dict[str, str], receiver: SmsGateway) -> Iterator[Flask]:
    app = create_app(
        {
            **env,
            "WEBHOOK_URL": receiver.url + "/hooks",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def api(hooked_app: Flask) -> FlaskClient:
    return hooked_app.test_client()


@pytest.fixture
def hooked_relay(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    return make_relay(webhook_url=receiver.url + "/hooks", webhook_secret=WEBHOOK_KEY)


def events(receiver: SmsGateway) -> list[dict[str, Any]]:
    """Every event the receiver got, each verified by the reference library."""
    return [
        Webhook(WEBHOOK_SECRET).verify(r.body, {k.lower(): v for k, v in r.headers})
        for r in receiver.requests
    ]


def sign_up(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> int:
    """Register and activate `email`; its user id."""
    assert (
        api.post("/v1/registrations", json={"email": email, "password": PASSWORD}).status_code
        == 202
    )
    relay.drain()
    code = code_in([m for m in smtp.sink.received if m["To"] == email][-1])
    assert api.post("/v1/activations", json={"email": email, "code": code}).status_code == 200
    relay.drain()
    [user] = [u for u in rows(engine_of(api), "users") if u["email"] == email]
    return int(user["id"])


def engine_of(api: FlaskClient) -> Engine:
    engine: Engine = api.application.extensions["outpost"].engine
    return engine


def test_the_life_of_an_account_reaches_the_application_without_a_secret(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    user_id = sign_up(api, hooked_relay, smtp, "ada@example.com")
    forget_throttles(engine)
    api.post("/v1/password-resets", json={"email": "ada@example.com"})
    hooked_relay.drain()
    reset_code = code_in(smtp.sink.received[-1])
    confirm = {"email": "ada@example.com", "code": reset_code, "new_password": NEW_PASSWORD}
    assert api.post("/v1/password-resets/confirm", json=confirm).status_code == 200
    hooked_relay.drain()
    got = events(receiver)
    assert [e["type"] for e in got] == [
        "account.registered",
        "account.activated",
        "account.password_changed",
    ]
    # The address is proven from the activation on.
    assert [e["data"] for e in got] == [
        {
            "user_id": user_id,
            "email": "ada@example.com",
            "email_proven": proven,
            "phone": None,
            "phone_proven": False,
        }
        for proven in (False, True, True)
    ]
    bodies = " ".join(r.body.decode() for r in receiver.requests)
    codes = [
        code_in(m) for m in smtp.sink.received if "code" in m.get_body(("plain",)).get_content()
    ]
    for secret in (PASSWORD, NEW_PASSWORD, reset_code, *codes):
        assert secret not in bodies


def test_an_event_exists_only_if_its_change_was_committed(
    api: FlaskClient,
    hooked_relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.post("/v1/registrations", json={"email": "bo@example.com", "password": PASSWORD})
    hooked_relay.drain()
    code = code_in(smtp.sink.received[-1])
    real = activation.announce

    def announce_then_fail(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("injected after the change and its event")

    monkeypatch.setattr(activation, "announce", announce_then_fail)
    failed = api.post("/v1/activations", json={"email": "bo@example.com", "code": code})
    assert failed.status_code == 500 and failed.mimetype == "application/problem+json"
    assert [u["status"] for u in rows(engine, "users")] == ["pending"]
    assert count(engine, "outbox", purpose="account.activated") == 0
    assert count(engine, "outbox", purpose="welcome") == 0


def test_logins_right_wrong_unknown_and_pending(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    user_id = sign_up(api, hooked_relay, smtp, "cy@example.com")
    api.post("/v1/registrations", json={"email": "pending@example.com", "password": PASSWORD})
    right = api.post("/v1/logins", json={"email": "cy@example.com", "password": PASSWORD})
    assert (right.status_code, right.get_json()) == (200, {"user_id": user_id, "status": "active"})
    refusals = [
        api.post("/v1/logins", json={"email": email, "password": password})
        for email, password in (
            ("cy@example.com", "wrong password here"),
            ("nobody@example.com", PASSWORD),
            ("pending@example.com", PASSWORD),
        )
    ]
    assert {r.status_code for r in refusals} == {401}
    assert len({r.get_data() for r in refusals}) == 1
    assert len({tuple(sorted(r.headers.keys())) for r in refusals}) == 1


def test_failed_logins_are_limited_per_account_and_never_block_a_reset(
    api: FlaskClient,
    hooked_relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(login, "LOGIN_FAILURES", Limit(3, 3600))
    sign_up(api, hooked_relay, smtp, "dee@example.com")
    for email in ("dee@example.com", "ghost@example.com"):
        for _ in range(3):
            wrong = api.post("/v1/logins", json={"email": email, "password": "not it at all"})
            assert wrong.status_code == 401
        limited = api.post("/v1/logins", json={"email": email, "password": PASSWORD})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    forget_throttles(engine)
    assert api.post("/v1/password-resets", json={"email": "dee@example.com"}).status_code == 202


def test_a_password_reset_ends_a_sign_in_lockout(
    api: FlaskClient,
    hooked_relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anyone can fail sign-ins for an address until it is locked; the owner who proves the
    address again by a reset must be able to sign in with the new password."""
    monkeypatch.setattr(login, "LOGIN_FAILURES", Limit(3, 3600))
    sign_up(api, hooked_relay, smtp, "gus@example.com")
    for _ in range(3):
        wrong = api.post("/v1/logins", json={"email": "gus@example.com", "password": "not it"})
        assert wrong.status_code == 401
    right = {"email": "gus@example.com", "password": PASSWORD}
    assert api.post("/v1/logins", json=right).status_code == 429
    assert api.post("/v1/password-resets", json={"email": "gus@example.com"}).status_code == 202
    hooked_relay.drain()
    code = code_in(smtp.sink.received[-1])
    body = {"email": "gus@example.com", "code": code, "new_password": NEW_PASSWORD}
    assert api.post("/v1/password-resets/confirm", json=body).status_code == 200
    new = {"email": "gus@example.com", "password": NEW_PASSWORD}
    answer = api.post("/v1/logins", json=new)
    assert (answer.status_code, answer.get_json()["status"]) == (200, "active")


@pytest.mark.hash_cost
def test_a_hash_made_with_weaker_parameters_is_replaced_on_success(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    user_id = sign_up(api, hooked_relay, smtp, "eve@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == user_id).values(password_hash=weak))
    assert (
        api.post("/v1/logins", json={"email": "eve@example.com", "password": PASSWORD}).status_code
        == 200
    )
    [user] = rows(engine, "users")
    assert user["password_hash"] != weak and "m=19456,t=2,p=1" in user["password_hash"]


@pytest.mark.hash_cost
@pytest.mark.alone
@pytest.mark.postgresql_only
def test_an_unknown_account_answers_as_slowly_as_a_wrong_password(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer
) -> None:
    sign_up(api, hooked_relay, smtp, "fay@example.com")

    def measure(attempt: int) -> Pairs:
        """Times of a wrong password and of an unknown account, fresh ones each attempt."""
        forget_throttles(engine_of(api))  # 40 wrong passwords an attempt, 100 an hour allowed

        def request(kind: str, n: int) -> None:
            email = "fay@example.com" if kind == "wrong" else f"nobody{attempt}-{n}@example.com"
            answer = api.post("/v1/logins", json={"email": email, "password": f"not it {n}"})
            assert answer.status_code == 401

        return alternating_pairs(request, ("wrong", "unknown"), 40)

    assert_same_time(measure, 0.10, "an unknown account against a wrong password")


def test_erasure_leaves_no_trace_of_the_address_and_still_suppresses_it(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    user_id = sign_up(api, hooked_relay, smtp, "gone@example.com")
    smtp.sink.mode = "reply:550 5.1.1"
    forget_throttles(engine)
    api.post("/v1/password-resets", json={"email": "gone@example.com"})
    hooked_relay.drain()
    smtp.sink.mode = "accept"
    assert count(engine, "suppressions") == 1

    erased = api.delete(f"/v1/admin/users/{user_id}", headers=BEARER)
    assert erased.get_json() == {"user_id": user_id, "erased": True}
    hooked_relay.drain()
    assert not [v for v in every_value_as_text(engine) if "gone@example.com" in v]
    assert [e["data"] for e in events(receiver) if e["type"] == "account.erased"] == [
        {"user_id": user_id}
    ]
    [entry] = rows(engine, "suppressions")
    assert entry["address"] is None
    assert api.delete(f"/v1/admin/users/{user_id}", headers=BEARER).status_code == 404

    # The address is free to register again, and still suppressed by its hash.
    forget_throttles(engine)
    again = api.post("/v1/registrations", json={"email": "gone@example.com", "password": PASSWORD})
    assert again.status_code == 202
    hooked_relay.drain()
    assert (
        api.get(f"/v1/deliveries/{again.get_json()['delivery']['id']}").get_json()["reason"]
        == "address_rejected"
    )


def test_an_account_whose_activation_event_died_is_listed_as_stranded(
    api: FlaskClient, hooked_relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    receiver.mode = 410
    user_id = sign_up(api, hooked_relay, smtp, "hal@example.com")
    stranded = api.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    [event] = [r for r in rows(engine, "outbox") if r["purpose"] == "account.activated"]
    assert [(s["user_id"], s["delivery"], s["remedy"]) for s in stranded] == [
        (user_id, event["public_id"], "retry_event")
    ]
    receiver.mode = 200
    retried = api.post(f"/v1/admin/dead-letters/{event['public_id']}/retry", headers=BEARER)
    assert retried.get_json()["outcome"] == "requeued"
    hooked_relay.drain()
    assert api.get("/v1/admin/stranded", headers=BEARER).get_json()["items"] == []
    with engine.connect() as connection:
        status = connection.execute(
            outbox.select().where(outbox.c.public_id == event["public_id"])
        ).one()
    assert status.status == "sent"
