"""Sign-in by code (SPEC `POST /v1/login-codes`, `/confirm`): an active account's proven address
gets a code by mail or SMS that signs in once; every other address is answered alike and gets
what a password reset would (a pending account its activation code); the code's tries and the
account's failed sign-ins are counted as the spec says."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api_service import create_app
from outbox_relay.relay import Relay
from shared.clock import utcnow
from support.constants import MakeRelay
from support.deliveries import but_the_wait
from support.rows import every_value_as_text, forget_throttles, let_time_pass, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer

PASSWORD = "correct horse battery staple"
ADA, NOBODY = "ada@example.com", "nobody@example.com"
PHONE, STRANGER = "+33612345678", "+33698765432"
CODES, CONFIRM = "/v1/login-codes", "/v1/login-codes/confirm"
LINK = "https://app.example/sign-in#purpose={purpose}&address={address}&code={code}"
SIX_DIGITS = re.compile(r"\b\d{6}\b")


@pytest.fixture
def env(env: dict[str, str], receiver: SmsGateway) -> dict[str, str]:
    """The test environment (the relay's too) with the API's public URL (a "no account" mail
    carries its unsubscribe link), SMS to the gateway stand-in, French national numbers and a
    one-click link."""
    return {
        **env,
        "PUBLIC_URL": "https://api.outpost.test",
        "SMS_URL": receiver.url + "/sms",
        "PHONE_DEFAULT_REGION": "FR",
        "CODE_LINK_URL": LINK,
    }


class Inboxes:
    """Every mailbox and phone of the test: the codes that reached each address."""

    def __init__(self, smtp: SinkServer, receiver: SmsGateway) -> None:
        self.smtp, self.receiver = smtp, receiver

    def mails(self, address: str) -> list[Any]:
        return [m for m in self.smtp.sink.received if str(m["To"]) == address]

    def texts(self, number: str) -> list[str]:
        return [str(r.json["body"]) for r in self.receiver.requests if r.json["to"] == number]

    def codes(self, address: str) -> list[str]:
        """The six-digit code of each message to `address` that carries one (a mail names it
        twice: alone and in its link), oldest first."""
        if "@" in address:
            bodies = [m.get_body(("plain",)).get_content() for m in self.mails(address)]
        else:
            bodies = self.texts(address)
        return [code for body in bodies for code in dict.fromkeys(SIX_DIGITS.findall(body))]


@pytest.fixture
def inboxes(smtp: SinkServer, receiver: SmsGateway) -> Inboxes:
    return Inboxes(smtp, receiver)


def _field(address: str) -> str:
    return "email" if "@" in address else "phone"


def _register(client: FlaskClient, relay: Relay, **addresses: str) -> None:
    body = {**addresses, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    relay.drain()


def _activate(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes, address: str
) -> int:
    """Activate the account at `address` with the newest code that reached it (which proves
    it) and deliver its welcome; throttles forgotten; its id."""
    code = inboxes.codes(address)[-1]
    answer = client.post("/v1/activations", json={_field(address): address, "code": code})
    assert answer.status_code == 200, answer.get_json()
    relay.drain()
    forget_throttles(engine)
    [user_id] = [u["id"] for u in rows(engine, "users") if address in (u["email"], u["phone"])]
    return int(user_id)


def _active(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes, address: str
) -> int:
    _register(client, relay, **{_field(address): address})
    return _activate(client, engine, relay, inboxes, address)


@pytest.mark.parametrize("address", [ADA, PHONE], ids=["email", "sms"])
def test_an_active_account_signs_in_once_with_the_code_that_reached_it(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes, address: str
) -> None:
    user_id = _active(client, engine, relay, inboxes, address)
    answer = client.post(CODES, json={_field(address): address})
    assert answer.status_code == 202
    delivery = answer.get_json()["delivery"]
    channel = "email" if "@" in address else "sms"
    assert (delivery["channel"], delivery["status"]) == (channel, "queued")
    assert relay.drain() == 1
    code = inboxes.codes(address)[-1]
    if channel == "email":
        [mail] = inboxes.mails(address)[-1:]
        assert str(mail["Subject"]) == "Your Outpost sign-in code"
        plain = mail.get_body(("plain",)).get_content()
        assert f"purpose=login_code&address=ada%40example.com&code={code}" in plain
        assert "10 minutes" in plain
    else:
        assert "sign-in code" in inboxes.texts(address)[-1]
    assert not any(code in value for value in every_value_as_text(engine))

    signed_in = client.post(CONFIRM, json={_field(address): address, "code": code})
    assert (signed_in.status_code, signed_in.get_json()) == (
        200,
        {"user_id": user_id, "status": "active"},
    )
    again = client.post(CONFIRM, json={_field(address): address, "code": code})
    assert (again.status_code, again.mimetype) == (400, "application/problem+json")


def _shown(client: FlaskClient, answer: Any) -> dict[str, Any]:
    """The answer and its delivery as the client follows it, ids left out."""
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    followed = client.get(f"/v1/deliveries/{body['delivery']['id']}").get_json()
    return {"answer": {**body, "delivery": {**body["delivery"], "id": None}}, "followed": followed}


def _followed(client: FlaskClient, shown: dict[str, Any]) -> dict[str, Any]:
    """What the client reads of a delivery now, its id left out."""
    public_id = shown["followed"]["id"]
    return {**client.get(f"/v1/deliveries/{public_id}").get_json(), "id": None}


def test_every_other_address_is_answered_alike_and_gets_no_sign_in_code(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes
) -> None:
    _active(client, engine, relay, inboxes, ADA)
    # A pending account, and an active one whose number no code proved.
    _register(client, relay, email="pending@example.com")
    _register(client, relay, email="bea@example.com", phone=PHONE)
    _activate(client, engine, relay, inboxes, "bea@example.com")
    texted = len(inboxes.receiver.requests)
    started = time.monotonic()
    asked = {
        address: _shown(client, client.post(CODES, json={_field(address): address}))
        for address in (ADA, NOBODY, "pending@example.com", PHONE, STRANGER)
    }
    relay.drain()
    answers = {address: shown["answer"] for address, shown in asked.items()}
    by_mail = {a: s for a, s in answers.items() if "@" in a}
    assert all(answer == answers[ADA] for answer in by_mail.values()), by_mail
    assert answers[PHONE] == answers[STRANGER]
    assert answers[PHONE]["delivery"]["channel"] == "sms"
    views = but_the_wait([_followed(client, shown) for shown in asked.values()], started)
    followed = dict(zip(asked, views, strict=True))
    assert all(f == followed[ADA] for a, f in followed.items() if "@" in a), followed
    assert followed[PHONE] == followed[STRANGER]

    # What each got: a code to Ada, the pending account's activation code, nothing else.
    assert len(inboxes.codes(ADA)) == 2
    [notice] = inboxes.mails(NOBODY)
    assert not SIX_DIGITS.search(notice.get_body(("plain",)).get_content())
    [activation] = inboxes.mails("pending@example.com")[-1:]
    assert str(activation["Subject"]) == "Activate your Outpost account"
    assert len(inboxes.receiver.requests) == texted, "an SMS went to an unproven number"
    purposes = {r["recipient"]: r["purpose"] for r in rows(engine, "outbox") if r["id"] > 5}
    assert (purposes[NOBODY], purposes[STRANGER], purposes[PHONE]) == (
        "no_account",
        "no_account",
        "login_code",
    )
    codes = [t for t in rows(engine, "verification_tokens") if t["purpose"] == "login_code"]
    assert len(codes) == 1, "a sign-in code was issued to an address no account proved"

    # The pending account's code activates it, as a resend's would.
    code = inboxes.codes("pending@example.com")[-1]
    body = {"email": "pending@example.com", "code": code}
    assert client.post("/v1/activations", json=body).status_code == 200


def test_wrong_codes_are_failed_sign_ins_and_wrong_passwords_leave_sign_in_codes_alone(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes
) -> None:
    _active(client, engine, relay, inboxes, ADA)
    assert client.post(CODES, json={"email": ADA}).status_code == 202
    relay.drain()
    code = inboxes.codes(ADA)[-1]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [client.post(CONFIRM, json={"email": ADA, "code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [400] * 5
    # The code died of its five wrong tries: the right one is refused now.
    exhausted = client.post(CONFIRM, json={"email": ADA, "code": code})
    assert exhausted.status_code == 429 and int(exhausted.headers["Retry-After"]) > 0
    # The five were failed sign-ins: 95 more lock the password out.
    _fail_sign_ins(client, engine, 95)
    locked = client.post("/v1/logins", json={"email": ADA, "password": PASSWORD})
    assert locked.status_code == 429

    # A new code: a hundred wrong passwords locked password sign-in, never her sign-in code
    # (SPEC "Codes": no one without the mail or the phone keeps its owner out).
    forget_throttles(engine)
    assert client.post(CODES, json={"email": ADA}).status_code == 202
    relay.drain()
    code = inboxes.codes(ADA)[-1]
    for n in range(100):
        body = {"email": ADA, "password": f"a wrong guess {n}"}
        client.post("/v1/logins", json=body, environ_base={"REMOTE_ADDR": f"10.0.{n}.1"})
    locked = client.post("/v1/logins", json={"email": ADA, "password": PASSWORD})
    assert locked.status_code == 429
    assert client.post(CONFIRM, json={"email": ADA, "code": code}).status_code == 200


def _fail_sign_ins(client: FlaskClient, engine: Engine, n: int) -> None:
    """Count `n` failed sign-ins naming Ada's address, as /v1/logins does."""
    throttle = client.application.extensions["outpost"].throttle
    with engine.begin() as connection:
        for _ in range(n):
            throttle.record(connection, [f"login-failures:{ADA}"], utcnow())


def test_an_expired_code_and_another_purposes_code_sign_in_nobody(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes
) -> None:
    _active(client, engine, relay, inboxes, ADA)
    assert client.post("/v1/password-resets", json={"email": ADA}).status_code == 202
    relay.drain()
    reset = inboxes.codes(ADA)[-1]
    assert client.post(CONFIRM, json={"email": ADA, "code": reset}).status_code == 400
    assert client.post(CODES, json={"email": ADA}).status_code == 202
    relay.drain()
    code = inboxes.codes(ADA)[-1]
    body = {"email": ADA, "code": code, "new_password": "another long passphrase"}
    assert client.post("/v1/password-resets/confirm", json=body).status_code == 400
    [token] = [t for t in rows(engine, "verification_tokens") if t["purpose"] == "login_code"]
    assert token["expires_at"] - token["created_at"] == timedelta(seconds=600)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE verification_tokens SET expires_at = :past WHERE purpose = 'login_code'"),
            {"past": utcnow() - timedelta(seconds=1)},
        )
    assert client.post(CONFIRM, json={"email": ADA, "code": code}).status_code == 400


def test_requests_are_throttled_per_address_and_bad_input_writes_nothing(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes
) -> None:
    _active(client, engine, relay, inboxes, ADA)
    assert client.post(CODES, json={"email": ADA}).status_code == 202
    again = client.post(CODES, json={"email": ADA})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    assert again.get_json()["detail"] == "A message was sent to this address recently."
    written = len(rows(engine, "outbox"))
    for body in ({}, {"email": "not an address"}, {"email": ADA, "channel": "fax"}):
        refused = client.post(CODES, json=body)
        assert (refused.status_code, refused.mimetype) == (422, "application/problem+json")
    refused = client.post(CONFIRM, json={"email": ADA, "code": "12345"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["pointer"] == "#/code"
    assert len(rows(engine, "outbox")) == written


def test_the_accounts_history_keeps_each_code_asked_for_and_each_sign_in_by_code(
    client: FlaskClient, engine: Engine, relay: Relay, inboxes: Inboxes
) -> None:
    user_id = _active(client, engine, relay, inboxes, ADA)
    client.post(CODES, json={"email": NOBODY})
    asked = client.post(CODES, json={"email": ADA}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert asked.status_code == 202
    relay.drain()
    code = inboxes.codes(ADA)[-1]
    wrong = {"email": ADA, "code": f"{(int(code) + 1) % 1_000_000:06d}"}
    assert (
        client.post(CONFIRM, json=wrong, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code
        == 400
    )
    good = {"email": ADA, "code": code}
    assert (
        client.post(CONFIRM, json=good, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code
        == 200
    )
    events = [
        (e["type"], e["client"], e["detail"])
        for e in rows(engine, "account_events")
        if e["type"] not in ("registered", "activated")
    ]
    assert events == [
        ("login_code_requested", "192.0.2.7", {"channel": "email"}),
        ("login_failed", "198.51.100.9", {"method": "code"}),
        ("login_succeeded", "192.0.2.7", {"method": "code"}),
    ]
    assert {e["user_id"] for e in rows(engine, "account_events")} == {user_id}
    assert not any(code in value for value in every_value_as_text(engine))


def test_a_pending_accounts_activation_codes_keep_their_own_hourly_budget(
    env: dict[str, str], engine: Engine, make_relay: MakeRelay, inboxes: Inboxes
) -> None:
    """Found by the attacker machine: sign-in codes asked for a pending account's address sent
    it activation codes past THROTTLE_PER_HOUR, counted only in the sign-in codes' bucket."""
    app = create_app({**env, "THROTTLE_PER_HOUR": "2"})
    client = app.test_client()
    _register(client, make_relay(), email=ADA)
    answers = []
    for _ in range(2):
        let_time_pass(engine, 61)
        answers.append(_shown(client, client.post(CODES, json={"email": ADA}))["answer"])
    assert all(answer == answers[0] for answer in answers), answers
    activations = [r for r in rows(engine, "outbox") if r["purpose"] == "activation"]
    # The registration's, the first sign-in code's; the second's is past the hour's two.
    assert [r["withhold"] for r in activations] == [False, False, True]
    app.extensions["outpost"].engine.dispose()
