"""The Text rule, addresses, phone numbers and bodies: refused with a problem, nothing written."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from support import processes
from support.ports import free_port
from support.rows import count, forget_throttles, rows, written

PASSWORD = "correct horse battery staple"
GOOD = {"email": "ada@example.com", "password": PASSWORD}
NOTHING = {"users": 0, "verification_tokens": 0, "outbox": 0}


def _refused(client: FlaskClient, path: str, body: Any, pointer: str, status: int = 422) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    if pointer:
        assert [e["pointer"] for e in problem["errors"]] == [f"#/{pointer}"]


BAD_TEXT = [
    "Eve\u0000Null",
    "Eve\u001b[31m",
    "bell\u0007",
    "del\u007f",
    "c1\u0085",
    "\u202eevil",
    # Line and paragraph separators: they break the welcome's lines where the name goes.
    "Ada\u2028Subject: hi",
    "Ada\u2029Lovelace",
]


@pytest.mark.parametrize("value", [*BAD_TEXT, "\ud800"])
def test_control_characters_and_lone_surrogates_in_names_are_refused(
    client: FlaskClient, engine: Engine, value: str
) -> None:
    _refused(client, "/v1/registrations", {**GOOD, "full_name": value}, "full_name")
    assert written(engine) == NOTHING


@pytest.mark.parametrize(
    "value", ["ada\u001b@example.com", "ada@exa\u202emple.com", "\ud800@x.com"]
)
def test_control_characters_in_addresses_are_refused(
    client: FlaskClient, engine: Engine, value: str
) -> None:
    _refused(client, "/v1/registrations", {**GOOD, "email": value}, "email")
    assert written(engine) == NOTHING


@pytest.mark.parametrize(
    ("path", "field"),
    [("/v1/registrations", "password"), ("/v1/password-resets/confirm", "new_password")],
)
@pytest.mark.parametrize("value", ["pass\u0000word-long", "\ud800" * 9])
def test_passwords_refuse_nul_and_lone_surrogates(
    client: FlaskClient, engine: Engine, path: str, field: str, value: str
) -> None:
    body = {**GOOD, field: value} if field == "password" else {}
    if field == "new_password":
        body = {"email": "ada@example.com", "code": "123456", "new_password": value}
    _refused(client, path, body, field)
    assert written(engine) == NOTHING


def test_passwords_may_hold_other_control_characters(client: FlaskClient, engine: Engine) -> None:
    response = client.post("/v1/registrations", json={**GOOD, "password": "tab\there\u001bok!"})
    assert response.status_code == 202


def test_an_empty_email_is_asked_for_in_plain_words(client: FlaskClient, engine: Engine) -> None:
    answer = client.post("/v1/registrations", json={**GOOD, "email": "  "})
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == [
        {"pointer": "#/email", "detail": "Enter an email address."}
    ]
    assert count(engine, "users") == 0


def test_a_short_password_gets_one_error(client: FlaskClient) -> None:
    _refused(client, "/v1/registrations", {**GOOD, "password": "short"}, "password")


@pytest.mark.parametrize("route", ["/v1/registrations", "/v1/activations", "/v1/logins"])
def test_json_nested_deeper_than_the_limit_is_refused(client: FlaskClient, route: str) -> None:
    body = "[" * 1000 + "]" * 1000
    response = client.post(route, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
        ("  ada@example.com ", "ada@example.com"),
    ],
)
def test_addresses_are_normalised_once(
    client: FlaskClient, engine: Engine, given: str, stored: str
) -> None:
    assert client.post("/v1/registrations", json={**GOOD, "email": given}).status_code == 202
    [user] = rows(engine, "users")
    assert user["email"] == stored
    [message] = rows(engine, "outbox")
    assert message["recipient"] == stored


def test_an_idn_address_and_its_punycode_are_one_account(
    client: FlaskClient, engine: Engine
) -> None:
    client.post("/v1/registrations", json={**GOOD, "email": "user@bücher.example"})
    forget_throttles(engine)
    client.post("/v1/registrations", json={**GOOD, "email": "user@xn--bcher-kva.example"})
    assert len(rows(engine, "users")) == 1


@pytest.mark.parametrize(
    "address",
    # The first begins with a Cyrillic a (U+0430): a non-ASCII local part, never delivered.
    [
        "\u0430dmin@example.com",
        "用户@example.com",
        "ada@localhost",
        "ada@",
        "not-an-email",
        # RFC 5321 caps the local part at 64 octets; servers refuse longer ones.
        "a" * 65 + "@example.com",
    ],
)
def test_undeliverable_addresses_are_refused(
    client: FlaskClient, engine: Engine, address: str
) -> None:
    _refused(client, "/v1/registrations", {**GOOD, "email": address}, "email")
    assert written(engine) == NOTHING


@pytest.mark.parametrize(
    "phone", ["0612345678", "+33 1 42 68 53 00", "+331426853", "+1555", "+33612345678x"]
)
def test_phone_numbers_that_cannot_take_an_sms_are_refused(
    client: FlaskClient, engine: Engine, phone: str
) -> None:
    body = {"phone": phone, "password": PASSWORD}
    _refused(client, "/v1/registrations", body, "phone")
    assert written(engine) == NOTHING


def test_phone_numbers_are_stored_as_e164(client: FlaskClient, engine: Engine) -> None:
    body = {"phone": "+33 6 12 34 56 78", "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    assert rows(engine, "users")[0]["phone"] == "+33612345678"


@pytest.fixture
def french_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_app({**env, "PHONE_DEFAULT_REGION": "fr"})
    yield app
    app.extensions["outpost"].engine.dispose()


def test_national_numbers_are_read_in_the_default_region(french_app: Flask, engine: Engine) -> None:
    body = {"phone": "06 12 34 56 78", "password": PASSWORD}
    assert french_app.test_client().post("/v1/registrations", json=body).status_code == 202
    assert rows(engine, "users")[0]["phone"] == "+33612345678"


@pytest.fixture
def no_sms_client(env: dict[str, str]) -> Iterator[FlaskClient]:
    app = create_app({key: value for key, value in env.items() if key != "SMS_URL"})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/v1/registrations", {"phone": "+33612345678", "password": PASSWORD}, "phone"),
        # A phone beside an email: nothing could prove it, and a later registration naming it
        # would owe its owner an SMS (SMS_URL unset left that message queued until it expired,
        # which told the prober the number had an account).
        ("/v1/registrations", {**GOOD, "phone": "+33612345678"}, "phone"),
        ("/v1/registrations", {**GOOD, "phone": "+33612345678", "channel": "sms"}, "channel"),
        ("/v1/activations/resend", {"phone": "+33612345678"}, "phone"),
        ("/v1/activations/resend", {"email": "ada@example.com", "channel": "sms"}, "channel"),
        ("/v1/password-resets", {"phone": "+33612345678"}, "phone"),
    ],
)
def test_without_sms_url_sms_is_refused_naming_the_field(
    no_sms_client: FlaskClient, engine: Engine, path: str, body: dict[str, Any], pointer: str
) -> None:
    _refused(no_sms_client, path, body, pointer)
    assert written(engine) == NOTHING


def test_without_sms_url_email_still_works(no_sms_client: FlaskClient) -> None:
    assert no_sms_client.post("/v1/registrations", json=GOOD).status_code == 202
    reset = no_sms_client.post("/v1/password-resets", json={"email": GOOD["email"]})
    assert reset.status_code == 202


def _post_chunked(port: int, chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/registrations",
            body=iter(chunks),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_413_not_truncated(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    api = processes.gunicorn(env, port, tmp_path)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
        big = json.dumps({**GOOD, "full_name": "x" * 20_000}).encode()
        status, problem = _post_chunked(port, [big[:8000], big[8000:]])
        assert (status, problem["status"]) == (413, 413)
        padded = json.dumps(GOOD).encode() + b" " * 20_000
        assert _post_chunked(port, [padded[:100], padded[100:]])[0] == 413
        assert written(engine) == NOTHING
        small = json.dumps(GOOD).encode()
        assert _post_chunked(port, [small[:10], small[10:]])[0] == 202
    finally:
        assert processes.stop(api) == 0
