"""No one without the mail keeps its owner out (SPEC "Codes"): a code's link token survives the
wrong codes others type, wrong codes are bounded per account over a day (past it codes are
taken only as tokens), and operators see a lockout in the account's history and lift it."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.clock import utcnow
from support.constants import ADMIN_TOKEN
from support.dashboard import signed_in
from support.rows import let_time_pass, rows
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
ADA = "ada@example.com"
LINK = "https://app.example/go#address={address}&purpose={purpose}&token={token}"
TOKEN = re.compile(r"&token=([A-Za-z0-9_-]+)")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment (the relay's too) with links that carry the code's token."""
    return {**env, "CODE_LINK_URL": LINK, "ADMIN_TOKEN": ADMIN_TOKEN}


def _token_in(mail: EmailMessage) -> str:
    text = mail.get_body(("plain",))
    assert text is not None
    found = TOKEN.search(text.get_content())
    assert found is not None, "no token in the mail's link"
    return found.group(1)


def _guess(client: FlaskClient, path: str, code: str, n: int, **extra: str) -> list[int]:
    """`n` wrong codes for `code` naming Ada, each from a client of its own."""
    answers = []
    for k in range(1, n + 1):
        body = {"email": ADA, "code": f"{(int(code) + k) % 10**6:06d}", **extra}
        answer = client.post(path, json=body, environ_base={"REMOTE_ADDR": f"10.1.{k}.1"})
        answers.append(answer.status_code)
    return answers


def _registered(client: FlaskClient, relay: Relay, smtp: SinkServer) -> EmailMessage:
    body = {"email": ADA, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    relay.drain()
    return smtp.sink.wait_for(1)[-1]


def _active(client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer) -> None:
    code = code_in(_registered(client, relay, smtp))
    assert client.post("/v1/activations", json={"email": ADA, "code": code}).status_code == 200
    relay.drain()
    let_time_pass(engine, 3601)


def test_six_wrong_codes_from_other_clients_leave_her_activation_link_working(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    mail = _registered(client, relay, smtp)
    code, token = code_in(mail), _token_in(mail)
    assert _guess(client, "/v1/activations", code, 6) == [400] * 5 + [429]
    # The code is spent for typing (its own tries and the address's), not its token.
    assert client.post("/v1/activations", json={"email": ADA, "code": code}).status_code == 429
    assert client.post("/v1/activations", json={"email": ADA, "token": "x" * 32}).status_code == 400
    answer = client.post("/v1/activations", json={"email": ADA, "token": token})
    assert answer.status_code == 200, answer.get_json()
    [row] = [r for r in rows(engine, "verification_tokens") if r["purpose"] == "activation"]
    assert row["status"] == "used" and row["link_hmac"] and token not in str(row)


def test_wrong_codes_before_her_mail_lands_never_cancel_it(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    """Five wrong tries used to kill a code and cancel its unsent mail: she got nothing."""
    _active(client, engine, relay, smtp)
    assert client.post("/v1/password-resets", json={"email": ADA}).status_code == 202
    wrong = {"new_password": "another horse battery staple"}
    assert _guess(client, "/v1/password-resets/confirm", "000000", 5, **wrong) == [400] * 5
    relay.drain()
    mail = smtp.sink.received[-1]
    assert str(mail["Subject"]).startswith("Reset")
    body = {"email": ADA, "token": _token_in(mail), "new_password": "a new horse battery staple"}
    assert client.post("/v1/password-resets/confirm", json=body).status_code == 200


def test_a_hundred_wrong_passwords_leave_her_sign_in_code_and_link_working(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    _active(client, engine, relay, smtp)
    assert client.post("/v1/login-codes", json={"email": ADA}).status_code == 202
    relay.drain()
    mail = smtp.sink.received[-1]
    for n in range(100):
        body = {"email": ADA, "password": f"a wrong guess {n}"}
        client.post("/v1/logins", json=body, environ_base={"REMOTE_ADDR": f"2001:db8:{n:x}::1"})
    right = {"email": ADA, "password": PASSWORD}
    assert client.post("/v1/logins", json=right).status_code == 429
    answer = client.post("/v1/login-codes/confirm", json={"email": ADA, "code": code_in(mail)})
    assert answer.status_code == 200, answer.get_json()
    # The account's history shows password sign-in locked, and until when.
    [locked] = [e for e in rows(engine, "account_events") if e["type"] == "locked_out"]
    assert locked["detail"]["method"] == "password"
    assert locked["detail"]["until"] > utcnow().isoformat(timespec="seconds")


def test_wrong_codes_are_bounded_per_account_over_a_day_then_only_tokens_work(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    _active(client, engine, relay, smtp)
    throttle = client.application.extensions["outpost"].throttle
    [user] = rows(engine, "users")
    with engine.begin() as connection:
        for _ in range(99):
            throttle.record(connection, [f"code-failures:{user['id']}"], utcnow())
    # Spread over the day: an hour's window would have let them all go.
    let_time_pass(engine, 3 * 3600)
    assert client.post("/v1/login-codes", json={"email": ADA}).status_code == 202
    relay.drain()
    mail = smtp.sink.received[-1]
    assert _guess(client, "/v1/login-codes/confirm", code_in(mail), 2) == [400, 429]
    refused = client.post("/v1/login-codes/confirm", json={"email": ADA, "code": code_in(mail)})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 20 * 3600
    by_token = {"email": ADA, "token": _token_in(mail)}
    assert client.post("/v1/login-codes/confirm", json=by_token).status_code == 200
    locked = [e for e in rows(engine, "account_events") if e["type"] == "locked_out"]
    assert [e["detail"]["method"] for e in locked] == ["code"]


def test_an_operator_lifts_the_lockout_audited_and_in_the_history(
    app: Flask, client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    _active(client, engine, relay, smtp)
    for n in range(100):
        body = {"email": ADA, "password": f"a wrong guess {n}"}
        client.post("/v1/logins", json=body, environ_base={"REMOTE_ADDR": f"10.2.{n}.1"})
    right = {"email": ADA, "password": PASSWORD}
    assert client.post("/v1/logins", json=right).status_code == 429
    [user] = rows(engine, "users")
    assert client.post("/v1/admin/users/999999/unlock", headers=AUTH).status_code == 404
    answer = client.post(f"/v1/admin/users/{user['id']}/unlock", headers=AUTH)
    assert answer.get_json() == {"user_id": user["id"], "unlocked": True}
    assert client.post("/v1/logins", json=right).status_code == 200
    events = client.get(f"/v1/admin/accounts/{user['id']}/events", headers=AUTH).get_json()
    assert [e["type"] for e in events["items"][:3]] == ["login_succeeded", "unlocked", "locked_out"]
    [action] = client.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert (action["actor"], action["action"], action["target"]) == (
        "alice@127.0.0.1",
        "unlock",
        str(user["id"]),
    )


def test_the_dashboard_shows_the_lockout_and_its_unlock_button_lifts_it(
    client: FlaskClient, engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    _active(client, engine, relay, smtp)
    for n in range(100):
        body = {"email": ADA, "password": f"a wrong guess {n}"}
        client.post("/v1/logins", json=body, environ_base={"REMOTE_ADDR": f"10.3.{n}.1"})
    token = signed_in(client)
    page = client.get("/admin/lookup", query_string={"address": ADA}).get_data(as_text=True)
    assert "locked_out" in page and "method: password" in page
    [user] = rows(engine, "users")
    form = {"csrf_token": token, "address": ADA}
    done = client.post(f"/admin/accounts/{user['id']}/unlock", data=form)
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"Account {user['id']} unlocked" in page and "unlocked" in page
    right = {"email": ADA, "password": PASSWORD}
    assert client.post("/v1/logins", json=right).status_code == 200
