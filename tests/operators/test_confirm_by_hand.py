"""Confirm by hand (SPEC): the admin route, `outbox-relay accounts confirm` and the dashboard's
button prove an address through one operation, as a used code would: a pending account is
activated and welcomed, the application hears `account.activated`, the address leaves the
accounts that carried it unproven; the history says `confirmed_by_operator`, the audit who and
why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from outbox_relay.relay import Relay
from support.commands import OS_USER, here, ok
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.dashboard import signed_in
from support.rows import forget_throttles, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer, code_in

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
ADA, PHONE = "ada@example.com", "+33612345678"
WHY = "called her back on the number in our CRM"


@pytest.fixture
def env(env: dict[str, str], receiver: SmsGateway) -> dict[str, str]:
    """The test environment with the admin token and the application's endpoint, whose answer
    to `account.activated` lets an account sign in."""
    return {
        **env,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "WEBHOOK_URL": receiver.url + "/hooks",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOGIN_REQUIRES_PROVISIONING": "true",
    }


@pytest.fixture
def relay(make_relay: MakeRelay, receiver: SmsGateway) -> Relay:
    return make_relay(webhook_url=receiver.url + "/hooks", webhook_secret=WEBHOOK_KEY)


def register(client: FlaskClient, relay: Relay, **addresses: str) -> int:
    """A new pending account with these addresses (its activation code left unused); its id."""
    channel = "email" if "email" in addresses else "sms"
    body = {**addresses, "password": PASSWORD, "channel": channel}
    assert client.post("/v1/registrations", json=body).status_code == 202
    relay.drain()
    field, address = next(iter(addresses.items()))
    found = client.get("/v1/admin/accounts", query_string={field: address}, headers=AUTH)
    return max(int(account["id"]) for account in found.get_json()["items"])


def confirm(client: FlaskClient, user_id: int, address: str, reason: str = WHY) -> Any:
    body = {"address": address, "reason": reason}
    return client.post(f"/v1/admin/accounts/{user_id}/confirm", json=body, headers=AUTH)


def history(client: FlaskClient, user_id: int) -> list[tuple[str, Any]]:
    found = client.get(f"/v1/admin/accounts/{user_id}/events", headers=AUTH).get_json()
    return [(e["type"], e["detail"]) for e in found["items"]]


def events(receiver: SmsGateway) -> list[dict[str, Any]]:
    return [
        Webhook(WEBHOOK_SECRET).verify(r.body, {k.lower(): v for k, v in r.headers})
        for r in receiver.requests
    ]


def test_an_address_confirmed_by_an_operator_activates_its_account_which_signs_in(
    client: FlaskClient, relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    ada = register(client, relay, email=ADA)
    code = code_in(smtp.sink.received[-1])
    login = {"email": ADA, "password": PASSWORD}
    assert client.post("/v1/logins", json=login).status_code == 401

    answer = confirm(client, ada, "email")
    assert answer.get_json() == {
        "user_id": ada,
        "address": "email",
        "outcome": "activated",
        "status": "active",
    }
    relay.drain()
    assert client.post("/v1/logins", json=login).get_json() == {"user_id": ada, "status": "active"}
    assert [m["To"] for m in smtp.sink.received] == [ADA, ADA]  # the activation, the welcome
    activated = [e for e in events(receiver) if e["type"] == "account.activated"]
    assert [e["data"]["email_proven"] for e in activated] == [True]
    # The activation code it replaces proves nothing any more.
    used = client.post("/v1/activations", json={"email": ADA, "code": code})
    assert used.status_code == 400
    assert history(client, ada)[:3] == [
        ("login_succeeded", {"method": "password"}),
        ("activated", {"method": "confirmed_by_operator"}),
        ("confirmed_by_operator", {"field": "email", "by": "alice@127.0.0.1"}),
    ]
    [action] = client.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert (action["actor"], action["action"], action["target"]) == (
        "alice@127.0.0.1",
        "confirm_address",
        str(ada),
    )
    assert action["details"] == {"address": "email", "reason": WHY, "outcome": "activated"}
    assert action["summary"] == f"email: address proven, account activated ({WHY})"

    again = confirm(client, ada, "email").get_json()
    assert (again["outcome"], again["status"]) == ("already_proven", "active")
    assert len([e for e in events(receiver) if e["type"] == "account.activated"]) == 1


def test_refusals_change_nothing(client: FlaskClient, relay: Relay, engine: Engine) -> None:
    ada = register(client, relay, email=ADA)
    assert confirm(client, 999999, "email").status_code == 404
    assert confirm(client, ada, "email", reason="").status_code == 422
    assert confirm(client, ada, "address").status_code == 422
    no_phone = confirm(client, ada, "phone")
    assert (no_phone.status_code, no_phone.get_json()["type"]) == (
        409,
        "https://outpost.dev/problems/no-such-address",
    )
    # A second sign-up with another password contests it: its owner chooses the password.
    forget_throttles(engine)
    other = {"email": ADA, "password": "another long passphrase"}
    assert client.post("/v1/registrations", json=other).status_code == 202
    contested = confirm(client, ada, "email")
    assert contested.get_json()["type"] == "https://outpost.dev/problems/contested"
    assert [u["status"] for u in rows(engine, "users")] == ["pending"]


def test_proving_an_address_takes_it_from_the_account_that_carried_it_unproven(
    client: FlaskClient, relay: Relay, smtp: SinkServer, receiver: SmsGateway, engine: Engine
) -> None:
    ada = register(client, relay, email=ADA, phone=PHONE)
    code = code_in(smtp.sink.received[-1])
    assert client.post("/v1/activations", json={"email": ADA, "code": code}).status_code == 200
    # Her phone, never proven, holds nothing: another sign-up takes it, pending.
    forget_throttles(engine)
    bea = register(client, relay, phone=PHONE)
    taken = confirm(client, ada, "phone")
    assert (taken.status_code, taken.get_json()["type"]) == (
        409,
        "https://outpost.dev/problems/address-taken",
    )

    assert confirm(client, bea, "phone").get_json()["outcome"] == "activated"
    relay.drain()
    by_id = {u["id"]: u for u in rows(engine, "users")}
    assert (by_id[ada]["phone"], by_id[bea]["phone"]) == (None, PHONE)
    assert by_id[bea]["phone_proven_at"] is not None
    assert history(client, ada)[0] == ("address_removed", {"field": "phone"})
    removed = [e for e in events(receiver) if e["type"] == "account.address_removed"]
    assert [e["data"]["user_id"] for e in removed] == [ada]


def test_the_command_line_confirms_audited_as_its_operator(
    client: FlaskClient, relay: Relay, env: dict[str, str], tmp_path: Path
) -> None:
    ada = register(client, relay, email=ADA)
    args = ("accounts", "confirm", str(ada), "--email", "--reason", WHY)
    done = ok(here(env, tmp_path, *args))
    assert done.stdout == f"account {ada} email: address proven, account activated\n"
    [action] = client.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert (action["actor"], action["details"]["reason"]) == (f"cli:{OS_USER}", WHY)
    assert history(client, ada)[1] == (
        "confirmed_by_operator",
        {"field": "email", "by": f"cli:{OS_USER}"},
    )
    missing = here(env, tmp_path, "accounts", "confirm", "999999", "--phone", "--reason", WHY)
    assert (missing.returncode, missing.stdout) == (1, "account 999999 phone: no such account\n")
    unreasoned = here(env, tmp_path, "accounts", "confirm", str(ada), "--phone")
    assert unreasoned.returncode == 2 and "--reason" in unreasoned.stderr


def test_the_dashboard_button_confirms_and_says_what_it_did(
    client: FlaskClient, relay: Relay
) -> None:
    ada = register(client, relay, email=ADA)
    token = signed_in(client)
    page = client.get("/admin/lookup", query_string={"address": ADA}).get_data(as_text=True)
    assert "Confirm email" in page and "Confirm phone" not in page
    form = {"csrf_token": token, "address": ADA, "which": "email", "reason": WHY}
    done = client.post(f"/admin/accounts/{ada}/confirm", data=form)
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"Account {ada}: address proven, account activated." in page
    assert "confirmed_by_operator" in page and "Confirm email" not in page
    unreasoned = client.post(f"/admin/accounts/{ada}/confirm", data={**form, "reason": " "})
    page = client.get(unreasoned.headers["Location"]).get_data(as_text=True)
    assert "Say how the person was checked; nothing done." in page
