"""An unproven address holds nothing (SPEC): in every way of squatting a victim's address on an
account that never proved it, the squatter cannot sign in naming it, the victim signs up with
it, activates and signs in, and her proof takes it from his account in the same transaction;
a registration's second address tells nothing of the first; the holder proves an address of
their own by an address change naming it."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.constants import WEBHOOK_SECRET
from support.rows import forget_throttles, rows
from support.sms_gateway import SmsGateway

HER_EMAIL, HER_PHONE = "victim@example.com", "+33611111111"
HIS_EMAIL, HIS_PHONE = "throwaway@example.net", "+33622222222"
HIS, HERS = "attacker's own passphrase", "her very own passphrase"


@pytest.fixture
def env(env: dict[str, str], receiver: SmsGateway) -> dict[str, str]:
    """The test environment with webhooks on."""
    return {**env, "WEBHOOK_URL": receiver.url + "/hooks", "WEBHOOK_SECRET": WEBHOOK_SECRET}


def _post(
    client: FlaskClient, engine: Engine, path: str, body: dict[str, Any], status: int = 202
) -> Any:
    """POST `body` to `path`, expecting `status`; the per-address throttles then forgotten: a
    person would have waited between these steps."""
    response = client.post(path, json=body)
    forget_throttles(engine)
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def _code(engine: Engine, settings: Settings, recipient: str, purpose: str = "activation") -> str:
    """The code of the newest live message of `purpose` to `recipient`."""
    [*_, row] = [
        r
        for r in rows(engine, "outbox")
        if (r["purpose"], r["recipient"], r["status"]) == (purpose, recipient, "pending")
    ]
    code: str = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    return code


def _field(address: str) -> str:
    return "email" if "@" in address else "phone"


def _squat(client: FlaskClient, engine: Engine, settings: Settings, variant: str) -> str:
    """His account carrying her address unproven, as `variant` makes it; her address."""
    if variant == "A":
        # Her email beside his phone, activated by SMS.
        body = {"email": HER_EMAIL, "phone": HIS_PHONE, "channel": "sms", "password": HIS}
        _post(client, engine, "/v1/registrations", body)
        code = _code(engine, settings, HIS_PHONE)
        _post(client, engine, "/v1/activations", {"phone": HIS_PHONE, "code": code}, 200)
        return HER_EMAIL
    if variant == "B":
        # As A, but she registers too (contested) before he resends to his phone and
        # activates with his own password.
        body = {"email": HER_EMAIL, "phone": HIS_PHONE, "channel": "email", "password": HIS}
        _post(client, engine, "/v1/registrations", body)
        forget_throttles(engine)
        _post(client, engine, "/v1/registrations", {"email": HER_EMAIL, "password": HERS})
        forget_throttles(engine)
        _post(client, engine, "/v1/activations/resend", {"phone": HIS_PHONE, "channel": "sms"})
        code = _code(engine, settings, HIS_PHONE)
        activation = {"phone": HIS_PHONE, "code": code}
        _post(client, engine, "/v1/activations", activation, 409)
        _post(client, engine, "/v1/activations", {**activation, "password": HIS}, 200)
        return HER_EMAIL
    # D: her phone beside his throwaway email, activated by mail.
    body = {"email": HIS_EMAIL, "phone": HER_PHONE, "channel": "email", "password": HIS}
    _post(client, engine, "/v1/registrations", body)
    code = _code(engine, settings, HIS_EMAIL)
    _post(client, engine, "/v1/activations", {"email": HIS_EMAIL, "code": code}, 200)
    return HER_PHONE


@pytest.mark.parametrize("variant", ["A", "B", "D"])
def test_a_squatted_address_signs_nobody_in_and_its_owner_takes_it(
    client: FlaskClient, engine: Engine, settings: Settings, variant: str
) -> None:
    hers = _squat(client, engine, settings, variant)
    forget_throttles(engine)
    [his] = [u for u in rows(engine, "users") if u["status"] == "active"]
    field = _field(hers)
    assert his[field] == hers and his[f"{field}_proven_at"] is None

    # His sign-in naming her address is answered as an unknown address's.
    refused = _post(client, engine, "/v1/logins", {field: hers, "password": HIS}, 401)
    unknown = {field: "nobody@example.com" if field == "email" else "+33633333333"}
    stranger = _post(client, engine, "/v1/logins", {**unknown, "password": HIS}, 401)
    assert refused.get_json() == stranger.get_json()
    # Nor does a sign-in code or a reset reach it, or any notice.
    before = {r["public_id"] for r in rows(engine, "outbox")}
    _post(client, engine, "/v1/login-codes", {field: hers})
    _post(client, engine, "/v1/password-resets", {field: hers})
    _post(client, engine, "/v1/activations/resend", {field: hers})
    forget_throttles(engine)
    sent = [r for r in rows(engine, "outbox") if r["public_id"] not in before]
    assert [r["withhold"] for r in sent if r["recipient"] == hers] == [True] * 3
    assert not [r for r in sent if r["recipient"] in (HIS_PHONE, HIS_EMAIL)]

    # She signs up with her own address: a new pending account and a real code.
    _post(client, engine, "/v1/registrations", {field: hers, "password": HERS})
    code = _code(engine, settings, hers)
    _post(client, engine, "/v1/activations", {field: hers, "code": code}, 200)
    _post(client, engine, "/v1/logins", {field: hers, "password": HERS}, 200)
    _post(client, engine, "/v1/logins", {field: hers, "password": HIS}, 401)

    # Her proof took the address from his account, which says so.
    [after] = [u for u in rows(engine, "users") if u["id"] == his["id"]]
    assert after[field] is None
    history = [e for e in rows(engine, "account_events") if e["user_id"] == his["id"]]
    assert history[-1]["type"] == "address_removed"
    assert history[-1]["detail"] == {"field": field}
    [removed] = [r for r in rows(engine, "outbox") if r["purpose"] == "account.address_removed"]
    data = removed["params"]["data"]
    assert data["user_id"] == his["id"] and data["removed"] == field
    assert data[field] is None and data[f"{field}_proven"] is False


def test_the_holder_proves_an_address_of_their_own_by_an_address_change(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """Someone who registered their own two addresses and activated by one proves the other
    by an address change naming it; it then signs them in."""
    _squat(client, engine, settings, "A")
    forget_throttles(engine)
    change = {"phone": HIS_PHONE, "password": HIS, "new_email": HER_EMAIL}
    _post(client, engine, "/v1/address-changes", change)
    code = _code(engine, settings, HER_EMAIL, purpose="address_change")
    confirm = {"phone": HIS_PHONE, "code": code, "new_email": HER_EMAIL}
    _post(client, engine, "/v1/address-changes/confirm", confirm, 200)
    [user] = rows(engine, "users")
    assert user["email"] == HER_EMAIL and user["email_proven_at"] is not None
    _post(client, engine, "/v1/logins", {"email": HER_EMAIL, "password": HIS}, 200)


@pytest.mark.parametrize("path", ["/v1/activations/resend", "/v1/login-codes"])
def test_a_number_carried_unproven_is_answered_on_the_channel_asked_as_a_free_one(
    client: FlaskClient, engine: Engine, settings: Settings, path: str
) -> None:
    """A request naming a number and asking for email hears `email` whether an active account
    carries the number unproven or nobody does: its withheld message answers as the channel
    asked for, as every message does (the attacker machine found `sms` for the carried one)."""
    carried = _squat(client, engine, settings, "D")
    forget_throttles(engine)

    def shown(phone: str) -> dict[str, Any]:
        answer = _post(client, engine, path, {"phone": phone, "channel": "email"}).get_json()
        return {**answer, "delivery": {**answer["delivery"], "id": None}}

    assert shown(carried) == shown("+33655555555")
    assert shown(carried)["delivery"]["channel"] == "email"


@pytest.mark.parametrize("taken_by", ["active", "pending", "carried"])
def test_a_second_address_tells_nothing_of_the_first(
    client: FlaskClient, engine: Engine, settings: Settings, taken_by: str
) -> None:
    """What his own phone gets from a registration naming her email beside it is the same
    whether an account holds her email or not."""

    def his_phone_gets(present: bool) -> list[tuple[str, str, str]]:
        if present and taken_by == "carried":
            _squat(client, engine, settings, "A")
        elif present:
            _post(client, engine, "/v1/registrations", {"email": HER_EMAIL, "password": HERS})
            if taken_by == "active":
                code = _code(engine, settings, HER_EMAIL)
                _post(client, engine, "/v1/activations", {"email": HER_EMAIL, "code": code}, 200)
        forget_throttles(engine)
        before = {r["public_id"] for r in rows(engine, "outbox")}
        body = {"email": HER_EMAIL, "phone": "+33644444444", "channel": "sms", "password": HIS}
        answer = _post(client, engine, "/v1/registrations", body).get_json()
        got = [r for r in rows(engine, "outbox") if r["public_id"] not in before]
        assert answer["delivery"]["id"] in {r["public_id"] for r in got}
        return [
            (r["channel"], r["purpose"], r["status"])
            for r in got
            if r["recipient"] == "+33644444444"
        ]

    absent = his_phone_gets(False)
    with engine.begin() as connection:
        for table in ("account_events", "outbox", "verification_tokens", "users"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    present = his_phone_gets(True)
    assert present == absent == [("sms", "activation", "pending")]


def test_operators_and_events_see_which_addresses_are_proven(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    _squat(client, engine, settings, "A")
    [user] = rows(engine, "users")
    [activated] = [r for r in rows(engine, "outbox") if r["purpose"] == "account.activated"]
    assert activated["params"]["data"] == {
        "user_id": user["id"],
        "email": HER_EMAIL,
        "email_proven": False,
        "phone": HIS_PHONE,
        "phone_proven": True,
    }
