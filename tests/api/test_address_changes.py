"""Address changes through the API, the real relay and SMTP server: a code to the new address,
the swap with it, the old address told, the application told (Standard Webhooks), a pending
account activated; the same answer for a wrong password, an unknown account and a taken
address; codes bound to the address they were sent to."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from standardwebhooks.webhooks import Webhook

from api_service import create_app
from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.messaging.suppressions import Suppressor
from support.constants import ADMIN_TOKEN, SECRET_KEY, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.rows import count, forget_throttles, rows
from support.sms_gateway import GatewayRequest, SmsGateway
from support.smtp_sink import SinkServer, code_in, the_mail

PASSWORD = "correct horse battery staple"
OLD, NEW = "ada@example.com", "ada@new.example.com"
CHANGES, CONFIRM = "/v1/address-changes", "/v1/address-changes/confirm"


@pytest.fixture
def env(env: dict[str, str], receiver: SmsGateway) -> dict[str, str]:
    """The test environment with webhooks on and national numbers read as French."""
    return {
        **env,
        "WEBHOOK_URL": receiver.url + "/hooks",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PHONE_DEFAULT_REGION": "FR",
    }


@pytest.fixture
def relay(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    """The relay, posting events to `receiver` signed with the test's key, and SMS to it as
    Outpost's own gateway contract."""
    return make_relay(
        webhook_url=receiver.url + "/hooks",
        webhook_secret=WEBHOOK_KEY,
        sms_url=receiver.url + "/sms",
    )


def register(client: FlaskClient, engine: Engine, active: bool = True, **addresses: str) -> None:
    """An account at `addresses` (OLD by default), active unless told, as if activated through
    the address its code went to (its email, else its phone); throttles forgotten."""
    body = {**(addresses or {"email": OLD}), "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    if active:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE users SET status = 'active',"
                    " email_proven_at = CASE WHEN email IS NOT NULL THEN created_at END,"
                    " phone_proven_at = CASE WHEN email IS NULL THEN created_at END"
                    " WHERE status = 'pending'"
                )
            )
    forget_throttles(engine)


def ask(client: FlaskClient, **body: str) -> dict[str, Any]:
    """POST /v1/address-changes: its 202 answer."""
    response = client.post(CHANGES, json={"email": OLD, "password": PASSWORD, **body})
    assert response.status_code == 202, response.get_data(as_text=True)
    answer: dict[str, Any] = response.get_json()
    return answer


def mails_to(smtp: SinkServer, address: str) -> list[EmailMessage]:
    return [mail for mail in smtp.sink.received if str(mail["To"]) == address]


def events(requests: list[GatewayRequest]) -> list[dict[str, Any]]:
    """The webhooks among `requests`, each checked by the reference library."""
    verified = []
    for request in requests:
        if request.path != "/hooks":
            continue
        headers = {k.lower(): v for k, v in request.headers}
        verified.append(Webhook(WEBHOOK_SECRET).verify(request.body, headers))
    return verified


def test_an_active_account_changes_its_email_with_the_code_sent_to_the_new_one(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer, receiver: SmsGateway
) -> None:
    register(client, engine)
    relay.drain()
    receiver.wait_for(1)
    answer = ask(client, new_email=NEW)
    assert answer["status"] == "accepted"
    assert (answer["delivery"]["channel"], answer["delivery"]["status"]) == ("email", "queued")
    assert relay.drain() == 1
    [mail] = mails_to(smtp, NEW)
    assert str(mail["Subject"]) == "Confirm your new Outpost address"
    code = code_in(mail)
    [token] = [t for t in rows(engine, "verification_tokens") if t["purpose"] == "address_change"]
    assert token["address"] == NEW and code not in json.dumps(token, default=str)

    response = client.post(CONFIRM, json={"email": OLD, "code": code, "new_email": NEW})
    assert (response.status_code, response.get_json()) == (200, {"status": "active"})
    [user] = rows(engine, "users")
    assert user["email"] == NEW
    assert relay.drain() == 2
    [notice] = mails_to(smtp, OLD)[-1:]
    assert str(notice["Subject"]) == "Your Outpost address was changed"
    assert "a***@new.example.com" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    event = events(receiver.wait_for(2))[-1]
    assert event["type"] == "account.address_changed"
    assert event["data"] == {
        "user_id": user["id"],
        "email": NEW,
        "email_proven": True,
        "phone": None,
        "phone_proven": False,
        "previous_email": OLD,
        "previous_phone": None,
    }
    login = {"email": NEW, "password": PASSWORD}
    assert client.post("/v1/logins", json=login).status_code == 200
    assert client.post("/v1/logins", json={**login, "email": OLD}).status_code == 401


def test_a_pending_account_fixes_its_typo_and_is_activated_by_the_code(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer, receiver: SmsGateway
) -> None:
    register(client, engine, active=False)
    ask(client, new_email=NEW)
    relay.drain()
    [mail] = mails_to(smtp, NEW)
    body = {"email": OLD, "code": code_in(mail), "new_email": NEW}
    assert client.post(CONFIRM, json=body).status_code == 200
    [user] = rows(engine, "users")
    assert (user["email"], user["status"]) == (NEW, "active")
    tokens = {t["purpose"]: t["status"] for t in rows(engine, "verification_tokens")}
    assert tokens == {"activation": "superseded", "address_change": "used"}
    relay.drain()
    assert [str(m["Subject"]) for m in mails_to(smtp, NEW)][-1] == "Welcome to Outpost"
    assert [str(m["Subject"]) for m in mails_to(smtp, OLD)] == ["Activate your Outpost account"]
    types = [event["type"] for event in events(receiver.wait_for(3))]
    assert types == ["account.registered", "account.activated", "account.address_changed"]


def sms_to(receiver: SmsGateway, number: str) -> list[str]:
    """The texts of the SMS the gateway received for `number`."""
    return [
        str(r.json["body"])
        for r in receiver.requests
        if r.path == "/sms" and r.json["to"] == number
    ]


def test_a_phone_changes_by_sms_and_the_old_number_is_told(
    client: FlaskClient, engine: Engine, relay: Relay, receiver: SmsGateway
) -> None:
    old, new = "+33612345678", "+33698765432"
    register(client, engine, phone="0612345678")
    body = {"phone": "0612345678", "password": PASSWORD, "new_phone": "0698765432"}
    answer = client.post(CHANGES, json=body).get_json()
    assert answer["delivery"]["channel"] == "sms"
    relay.drain()
    [text_] = sms_to(receiver, new)
    [code] = re.findall(r"\b\d{6}\b", text_)
    confirm = {"phone": old, "code": code, "new_phone": new}
    assert client.post(CONFIRM, json={**confirm, "new_phone": "+33698765433"}).status_code == 400
    assert client.post(CONFIRM, json=confirm).status_code == 200
    assert [u["phone"] for u in rows(engine, "users")] == [new]
    relay.drain()
    assert sms_to(receiver, old)[-1] == (
        "Outpost: your account's number was changed to +*********32. Not you? Reset your"
        " password now."
    )


def test_wrong_password_unknown_account_and_taken_address_answer_alike(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    register(client, engine)
    register(client, engine, email="bob@example.com")
    cases = {
        "wrong password": {"password": "not the password at all"},
        "unknown account": {"email": "nobody@example.com"},
        "taken address": {"new_email": "bob@example.com"},
        "right": {},
    }
    answers = {}
    for n, (case, change) in enumerate(cases.items()):
        body = {"email": OLD, "password": PASSWORD, "new_email": f"new{n}@example.com", **change}
        response = client.post(CHANGES, json=body)
        assert response.status_code == 202
        answer = response.get_json()
        answers[case] = (
            answer["status"],
            answer["delivery"]["channel"],
            answer["delivery"]["status"],
        )
    assert len(set(answers.values())) == 1
    relay.drain()
    received = sorted((str(m["To"]), str(m["Subject"])) for m in smtp.sink.received)
    assert received == [
        ("ada@example.com", "Activate your Outpost account"),
        ("bob@example.com", "Activate your Outpost account"),
        ("bob@example.com", "You already have an account on Outpost"),
        ("new3@example.com", "Confirm your new Outpost address"),
    ]
    statuses = sorted(
        (r["recipient"], r["status"])
        for r in rows(engine, "outbox")
        if r["purpose"] == "address_change"
    )
    assert statuses == [
        ("new0@example.com", "withheld"),
        ("new1@example.com", "withheld"),
        ("new3@example.com", "sent"),
    ]
    assert {u["email"] for u in rows(engine, "users")} == {OLD, "bob@example.com"}


def test_the_code_works_once_for_the_address_it_was_sent_to_and_dies_after_five_tries(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    register(client, engine)
    ask(client, new_email=NEW)
    relay.drain()
    code = code_in(mails_to(smtp, NEW)[0])
    wrong = "000000" if code != "000000" else "111111"
    elsewhere = {"email": OLD, "code": code, "new_email": "eve@example.com"}
    assert client.post(CONFIRM, json=elsewhere).status_code == 400
    for _ in range(3):
        body = {"email": OLD, "code": wrong, "new_email": NEW}
        assert client.post(CONFIRM, json=body).status_code == 400
    right = {"email": OLD, "code": code, "new_email": NEW}
    assert client.post(CONFIRM, json=right).status_code == 200
    assert client.post(CONFIRM, json={**right, "email": NEW}).status_code == 400
    [user] = rows(engine, "users")
    assert user["email"] == NEW

    forget_throttles(engine)
    ask(client, email=NEW, new_email="ada@third.example.com")
    for _ in range(5):
        body = {"email": NEW, "code": wrong, "new_email": "ada@third.example.com"}
        assert client.post(CONFIRM, json=body).status_code == 400
    too_many = client.post(CONFIRM, json={**body, "code": code})
    assert too_many.status_code == 429 and int(too_many.headers["Retry-After"]) > 0


def test_a_second_request_to_the_same_new_address_waits_its_cooldown(
    client: FlaskClient, engine: Engine
) -> None:
    register(client, engine)
    first = ask(client, new_email=NEW)
    again = client.post(CHANGES, json={"email": OLD, "password": PASSWORD, "new_email": NEW})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    shown = client.get(f"/v1/deliveries/{first['delivery']['id']}").get_json()
    assert (shown["can_resend"], shown["retry_after"] > 0) == (False, True)
    forget_throttles(engine)
    shown = client.get(f"/v1/deliveries/{first['delivery']['id']}").get_json()
    assert (shown["can_resend"], shown["retry_after"]) == (True, None)


def test_a_wrong_password_counts_as_a_failed_sign_in(client: FlaskClient, engine: Engine) -> None:
    register(client, engine)
    throttle = client.application.extensions["outpost"].throttle
    with engine.begin() as connection:
        for _ in range(99):
            throttle.record(connection, [f"login-failures:{OLD}"], utcnow())
    body = {"email": OLD, "password": "not the password at all", "new_email": NEW}
    assert client.post(CHANGES, json=body).status_code == 202
    refused = client.post(
        CHANGES, json={**body, "password": PASSWORD, "new_email": "x@example.com"}
    )
    assert refused.get_json()["detail"] == "Too many failed sign-ins for this account."
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert client.post("/v1/logins", json={"email": OLD, "password": PASSWORD}).status_code == 429


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "new_email"),
        ({"new_email": NEW, "new_phone": "+33698765432"}, "new_phone"),
        ({"new_email": "not an address"}, "new_email"),
        ({"new_phone": "+33112345678"}, "new_phone"),
        ({"new_email": NEW, "password": ""}, "password"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    client: FlaskClient, engine: Engine, change: dict[str, str], field: str
) -> None:
    register(client, engine)
    before = {t: count(engine, t) for t in ("users", "verification_tokens", "outbox")}
    response = client.post(CHANGES, json={"email": OLD, "password": PASSWORD, **change})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [e["pointer"] for e in response.get_json()["errors"]] == [f"#/{field}"]
    assert {t: count(engine, t) for t in before} == before


def test_a_new_phone_is_refused_where_sms_is_not_offered(
    env: dict[str, str], engine: Engine
) -> None:
    app = create_app({**env, "SMS_URL": ""})
    client = app.test_client()
    body = {"email": OLD, "password": PASSWORD, "new_phone": "+33698765432"}
    response = client.post(CHANGES, json=body)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["#/new_phone"]
    app.extensions["outpost"].engine.dispose()


def test_the_codes_sent_to_the_old_address_die_with_the_change(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    register(client, engine)
    assert client.post("/v1/password-resets", json={"email": OLD}).status_code == 202
    ask(client, new_email=NEW)
    relay.drain()
    reset_code = code_in(the_mail(smtp.sink.received, OLD, "Reset your Outpost password"))
    body = {"email": OLD, "code": code_in(mails_to(smtp, NEW)[0]), "new_email": NEW}
    assert client.post(CONFIRM, json=body).status_code == 200
    reset = {"email": NEW, "code": reset_code, "new_password": "another horse battery staple"}
    assert client.post("/v1/password-resets/confirm", json=reset).status_code == 400


def test_an_operator_retry_of_a_dead_code_sends_a_fresh_one_to_the_new_address(
    engine: Engine, admin: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    client = admin
    register(client, engine)
    delivery = ask(client, new_email=NEW)["delivery"]
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE outbox SET status = 'dead', dead_reason = 'max_attempts'"),
        )
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
    retried = admin.post(f"/v1/admin/dead-letters/{delivery['id']}/retry", headers=auth)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["outcome"] == "fresh_code"
    relay.drain()
    [mail] = mails_to(smtp, NEW)
    body = {"email": OLD, "code": code_in(mail), "new_email": NEW}
    assert client.post(CONFIRM, json=body).status_code == 200


def test_a_suppressed_new_address_gets_nothing_and_its_delivery_reads_as_any_other(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    register(client, engine)
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, NEW, reason="hard_bounce", source="ses", now=utcnow()
        )
    asked = ask(client, new_email=NEW)
    relay.drain()
    assert mails_to(smtp, NEW) == []
    # An address change's delivery ends at `sent` for its client, as one to an address nobody
    # owns does (SPEC: its answer must not tell known from unknown addresses).
    shown = client.get(f"/v1/deliveries/{asked['delivery']['id']}").get_json()
    assert (shown["status"], shown["reason"]) == ("sent", None)
    assert "delivered_at" not in shown
    assert [u["email"] for u in rows(engine, "users")] == [OLD]
