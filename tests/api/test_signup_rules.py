"""Who may sign up: SIGNUP_DOMAINS_ALLOWED, SIGNUP_DOMAINS_DENIED and SIGNUP_DENY_DISPOSABLE,
rules on the address alone, on registration and address change alike (SPEC "The application's
say over sign-ups")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from shared.accounts.signup_rules import SignupRules, disposable
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import SECRET_KEY
from support.rows import count, forget_throttles

PASSWORD = "correct horse battery staple"
NOT_ALLOWED = "https://outpost.dev/problems/address-not-allowed"


@pytest.mark.parametrize(
    ("rules", "email", "refused"),
    [
        (SignupRules(denied=frozenset({"example.com"})), "jane@example.com", True),
        (SignupRules(denied=frozenset({"example.com"})), "jane@mail.example.com", True),
        (SignupRules(denied=frozenset({"example.com"})), "jane@notexample.com", False),
        (SignupRules(denied=frozenset({"example.com"})), "jane@example.com.au", False),
        (SignupRules(allowed=frozenset({"customer.com"})), "jane@customer.com", False),
        (SignupRules(allowed=frozenset({"customer.com"})), "jane@eu.customer.com", False),
        (SignupRules(allowed=frozenset({"customer.com"})), "jane@gmail.com", True),
        (SignupRules(allowed=frozenset({"customer.com"})), "jane@evilcustomer.com", True),
        (SignupRules(deny_disposable=True), "jane@mailinator.com", True),
        (SignupRules(deny_disposable=True), "jane@eu.mailinator.com", True),
        (SignupRules(deny_disposable=True), "jane@gmail.com", False),
        (SignupRules(), "jane@mailinator.com", False),
    ],
)
def test_a_rule_covers_its_domain_and_its_subdomains(
    rules: SignupRules, email: str, refused: bool
) -> None:
    assert (rules.refusal(email) is not None) == refused


def test_the_disposable_list_comes_from_the_maintained_package() -> None:
    known = disposable()
    assert len(known) > 1000 and "mailinator.com" in known
    assert not {"gmail.com", "outlook.com", "yahoo.com"} & known


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNUP_DOMAINS_ALLOWED", "customer.com, not a domain"),
        ("SIGNUP_DOMAINS_DENIED", "https://example.com"),
        ("SIGNUP_DENY_DISPOSABLE", "yes"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, name: value})
    assert str(refused.value).startswith(f"{name}: ")


@pytest.fixture
def ruled(env: dict[str, str]) -> Iterator[Any]:
    """Apps made with some sign-up rules added to the test environment."""
    made: list[Flask] = []

    def make(**rules: str) -> FlaskClient:
        made.append(create_app({**env, **rules}))
        return made[-1].test_client()

    yield make
    for app in made:
        app.extensions["outpost"].engine.dispose()


def register(client: FlaskClient, email: str) -> Any:
    return client.post("/v1/registrations", json={"email": email, "password": PASSWORD})


def assert_not_allowed(response: Any, field: str) -> None:
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == NOT_ALLOWED
    assert [error["pointer"] for error in problem["errors"]] == [f"#/{field}"]


def test_a_denied_domains_subdomain_is_refused_and_nothing_written(
    ruled: Any, engine: Engine
) -> None:
    client = ruled(SIGNUP_DOMAINS_DENIED="example.com")
    assert_not_allowed(register(client, "jane@mail.example.com"), "email")
    assert (count(engine, "users"), count(engine, "outbox")) == (0, 0)
    assert register(client, "jane@example.org").status_code == 202


def test_only_allowed_domains_sign_up(ruled: Any) -> None:
    client = ruled(SIGNUP_DOMAINS_ALLOWED="customer.com")
    assert register(client, "jane@team.customer.com").status_code == 202
    assert_not_allowed(register(client, "jane@gmail.com"), "email")
    phone = {"phone": "+33612345678", "password": PASSWORD}
    assert client.post("/v1/registrations", json=phone).status_code == 202


def test_a_disposable_domain_is_refused_when_asked(ruled: Any) -> None:
    assert register(ruled(), "jane@mailinator.com").status_code == 202
    strict = ruled(SIGNUP_DENY_DISPOSABLE="true")
    assert_not_allowed(register(strict, "bob@mailinator.com"), "email")


def test_a_taken_address_and_a_free_one_are_refused_alike(ruled: Any, engine: Engine) -> None:
    """The rule reads the address, never the accounts: an account made before the rule
    changes nothing of the answer."""
    assert register(ruled(), "ada@example.com").status_code == 202
    forget_throttles(engine)
    client = ruled(SIGNUP_DOMAINS_DENIED="example.com")
    taken, free = register(client, "ada@example.com"), register(client, "eve@example.com")
    assert taken.get_json() == free.get_json()
    assert taken.headers["Content-Length"] == free.headers["Content-Length"]
    assert count(engine, "outbox") == 1


def test_an_address_change_to_a_denied_domain_is_refused(ruled: Any, engine: Engine) -> None:
    client = ruled(SIGNUP_DOMAINS_DENIED="example.com")
    assert register(client, "jane@example.org").status_code == 202
    change = {"email": "jane@example.org", "password": PASSWORD}
    refused = client.post(
        "/v1/address-changes", json={**change, "new_email": "jane@eu.example.com"}
    )
    assert_not_allowed(refused, "new_email")
    assert count(engine, "outbox") == 1
    allowed = client.post("/v1/address-changes", json={**change, "new_email": "jane@example.net"})
    assert allowed.status_code == 202
