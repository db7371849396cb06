"""Proof of address (SPEC): a password chosen before an address was proven never survives its
proof by someone else, in either order of registration; codes that set a password go only to
proven addresses; unsubscribing from a "no account" notice stops nothing else."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.constants import MakeRelay
from support.deliveries import but_the_wait
from support.rows import forget_throttles, rows
from support.smtp_sink import SinkServer, code_in

VICTIM = "victim@example.com"
ATTACKER_PHONE = "+33612345678"
ATTACKERS, HERS = "attacker's own passphrase", "her very own passphrase"


def _post(client: FlaskClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body)


def _newest_code(engine: Engine, settings: Settings, purpose: str, recipient: str) -> str:
    """The code of the newest pending message of `purpose` to `recipient`."""
    row = [
        r
        for r in rows(engine, "outbox")
        if (r["purpose"], r["recipient"], r["status"]) == (purpose, recipient, "pending")
    ][-1]
    code: str = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    return code


def _signs_in(client: FlaskClient, password: str) -> int:
    status: int = _post(client, "/v1/logins", {"email": VICTIM, "password": password}).status_code
    return status


@pytest.mark.parametrize("attacker_first", [True, False], ids=["attacker-first", "victim-first"])
def test_a_contested_sign_up_takes_the_provers_password(
    client: FlaskClient, engine: Engine, settings: Settings, attacker_first: bool
) -> None:
    registrations = [
        {"email": VICTIM, "password": ATTACKERS},
        {"email": VICTIM, "password": HERS},
    ]
    for body in registrations if attacker_first else registrations[::-1]:
        assert _post(client, "/v1/registrations", body).status_code == 202
        forget_throttles(engine)
    [user] = rows(engine, "users")
    assert user["contested"] is True
    code = _newest_code(engine, settings, "activation", VICTIM)

    refused = _post(client, "/v1/activations", {"email": VICTIM, "code": code})
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/password-required")
    # Nothing changed: the code is live, the try not counted, the account pending.
    [token] = [t for t in rows(engine, "verification_tokens") if t["status"] == "active"]
    assert token["failed_attempts"] == 0
    assert rows(engine, "users")[0]["status"] == "pending"
    assert _post(client, "/v1/activations/resend", {"email": VICTIM}).status_code == 202

    newest = _newest_code(engine, settings, "activation", VICTIM)
    body = {"email": VICTIM, "code": newest, "password": HERS}
    assert _post(client, "/v1/activations", body).status_code == 200
    assert (_signs_in(client, ATTACKERS), _signs_in(client, HERS)) == (401, 200)
    [user] = rows(engine, "users")
    assert (user["status"], user["contested"]) == ("active", False)
    assert user["email_proven_at"] is not None


def test_the_same_registration_again_does_not_contest(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """A retry whose answer was lost (same password) asks for no password at activation."""
    for _ in range(2):
        body = {"email": VICTIM, "password": HERS}
        assert _post(client, "/v1/registrations", body).status_code == 202
        forget_throttles(engine)
    assert rows(engine, "users")[0]["contested"] is False
    code = _newest_code(engine, settings, "activation", VICTIM)
    assert _post(client, "/v1/activations", {"email": VICTIM, "code": code}).status_code == 200
    assert _signs_in(client, HERS) == 200


def test_a_phone_the_attacker_added_is_removed_and_gets_no_reset_code(
    client: FlaskClient, engine: Engine, settings: Settings, relay: Relay
) -> None:
    attacker = {"email": VICTIM, "phone": ATTACKER_PHONE, "password": ATTACKERS}
    assert _post(client, "/v1/registrations", {**attacker, "channel": "email"}).status_code == 202
    forget_throttles(engine)
    assert _post(client, "/v1/registrations", {"email": VICTIM, "password": HERS}).status_code == (
        202
    )
    code = _newest_code(engine, settings, "activation", VICTIM)
    body = {"email": VICTIM, "code": code, "password": HERS}
    assert _post(client, "/v1/activations", body).status_code == 200
    [user] = rows(engine, "users")
    assert (user["email"], user["phone"]) == (VICTIM, None)

    forget_throttles(engine)
    asked = _post(client, "/v1/password-resets", {"phone": ATTACKER_PHONE})
    assert asked.status_code == 202
    relay.drain()
    resets = [r for r in rows(engine, "outbox") if r["recipient"] == ATTACKER_PHONE]
    assert all(r["purpose"] != "password_reset" or r["status"] == "withheld" for r in resets)
    assert not [t for t in rows(engine, "verification_tokens") if t["purpose"] == "password_reset"]
    assert _signs_in(client, HERS) == 200


HER_PHONE = "+33698765432"


@pytest.mark.parametrize("attacker_first", [True, False], ids=["attacker-first", "victim-first"])
def test_her_email_named_beside_her_taken_phone_never_opens_to_his_password(
    client: FlaskClient, engine: Engine, settings: Settings, attacker_first: bool
) -> None:
    """Her phone's account is active; she signs up again naming her email beside it by SMS (the
    answer is her phone's "account exists"), and he registers her email with his password,
    before or after her. The activation code her mail then gets takes the password the account
    will have: hers (found by the attacker machine: her email was left free, or his pending
    account on it uncontested, and her code opened his password)."""
    mine = {"phone": HER_PHONE, "password": HERS, "channel": "sms"}
    assert _post(client, "/v1/registrations", mine).status_code == 202
    code = _newest_code(engine, settings, "activation", HER_PHONE)
    assert _post(client, "/v1/activations", {"phone": HER_PHONE, "code": code}).status_code == 200
    forget_throttles(engine)
    hers = {"email": VICTIM, "phone": HER_PHONE, "password": HERS, "channel": "sms"}
    his = {"email": VICTIM, "phone": ATTACKER_PHONE, "password": ATTACKERS, "channel": "email"}
    for body in [his, hers] if attacker_first else [hers, his]:
        assert _post(client, "/v1/registrations", body).status_code == 202
        forget_throttles(engine)
    assert _post(client, "/v1/activations/resend", {"email": VICTIM}).status_code == 202
    code = _newest_code(engine, settings, "activation", VICTIM)

    refused = _post(client, "/v1/activations", {"email": VICTIM, "code": code})
    assert refused.get_json()["type"].endswith("/password-required")
    body = {"email": VICTIM, "code": code, "password": HERS}
    assert _post(client, "/v1/activations", body).status_code == 200
    assert (_signs_in(client, ATTACKERS), _signs_in(client, HERS)) == (401, 200)
    [account] = [u for u in rows(engine, "users") if u["email"] == VICTIM]
    assert (account["status"], account["phone"]) == ("active", None)


def test_a_reset_code_goes_only_to_a_proven_address_and_answers_alike(
    client: FlaskClient, engine: Engine, settings: Settings, relay: Relay, smtp: SinkServer
) -> None:
    """An uncontested account activated by mail keeps the phone it was registered with, but
    that phone was never proven: a reset by it is withheld, answered as a real one is."""
    body = {"email": VICTIM, "phone": ATTACKER_PHONE, "password": HERS}
    assert _post(client, "/v1/registrations", body).status_code == 202
    assert relay.drain() == 1
    code = code_in(smtp.sink.received[-1])
    assert _post(client, "/v1/activations", {"email": VICTIM, "code": code}).status_code == 200
    forget_throttles(engine)

    started = time.monotonic()
    by_mail = _post(client, "/v1/password-resets", {"email": VICTIM})
    by_phone = _post(client, "/v1/password-resets", {"phone": ATTACKER_PHONE})
    assert (by_mail.status_code, by_phone.status_code) == (202, 202)
    resets = [r for r in rows(engine, "outbox") if r["purpose"] == "password_reset"]
    assert [(r["recipient"], r["withhold"]) for r in resets] == [
        (VICTIM, False),
        (ATTACKER_PHONE, True),
    ]
    relay.drain()
    ids = [answer.get_json()["delivery"]["id"] for answer in (by_mail, by_phone)]
    views = [client.get(f"/v1/deliveries/{i}").get_json() for i in ids]
    mail, phone = ({**s, "id": None, "channel": None} for s in but_the_wait(views, started))
    assert mail == phone


def test_unsubscribing_a_stranger_notice_stops_no_sign_up(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """The address of an unsubscribed "no account" notice still gets its own activation code,
    and proving it lifts the unsubscription."""
    # A "no account" notice carries its unsubscribe link, which needs the public URL.
    relay = make_relay(public_url="https://api.outpost.test")
    assert _post(client, "/v1/password-resets", {"email": VICTIM}).status_code == 202
    assert relay.drain() == 1
    [notice] = smtp.sink.received
    token = str(notice["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[-1]
    assert client.post(f"/v1/unsubscribe/{token}").status_code == 200
    assert [s["reason"] for s in rows(engine, "suppressions")] == ["unsubscribed"]

    forget_throttles(engine)
    registered = _post(client, "/v1/registrations", {"email": VICTIM, "password": HERS})
    assert registered.status_code == 202
    assert relay.drain() == 1
    code = code_in(smtp.sink.received[-1])
    delivery = client.get(f"/v1/deliveries/{registered.get_json()['delivery']['id']}")
    assert delivery.get_json()["status"] == "sent"
    assert _post(client, "/v1/activations", {"email": VICTIM, "code": code}).status_code == 200
    assert rows(engine, "suppressions") == []
