"""Resend, password reset and a wrong activation code take the same time for a known address
as for an unknown one (SPEC "No enumeration": timing within noise), whether the known one gets
a code or, active and asking for an activation code, a notice; by email (an unknown one gets
its "no account" mail, counted against the hour's budget) and by SMS (an unknown number's
notice is withheld)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, bindparam, text

from support.rows import count, forget_throttles
from support.timing import Pairs, alternating_pairs, assert_same_time

PASSWORD = "correct horse battery staple"
ROUNDS = 30
# How an address of each kind is named in a request: `email`, or `phone` (national numbers of
# the 06 range, known and unknown ones apart).
KINDS = ("email", "phone")

Body = Callable[[str], dict[str, Any]]
ROUTES: dict[str, tuple[str, Body, int]] = {
    "resend": ("/v1/activations/resend", lambda email: {"email": email}, 202),
    "reset": ("/v1/password-resets", lambda email: {"email": email}, 202),
    "wrong-code": ("/v1/activations", lambda email: {"email": email, "code": "000000"}, 400),
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment as a deployment has it: "no account" mails carry an unsubscribe
    link (and are counted against their budget), SMS limits far above what the test sends."""
    return {
        **env,
        "PUBLIC_URL": "https://api.outpost.test",
        "NO_ACCOUNT_HOURLY_LIMIT": "100000",
        "SMS_REGION_HOURLY_LIMIT": "100000",
        "SMS_CLIENT_HOURLY_LIMIT": "100000",
        "PHONE_DEFAULT_REGION": "FR",
    }


def _register(
    client: FlaskClient,
    engine: Engine,
    addresses: list[str],
    status: str = "pending",
    kind: str = "email",
) -> None:
    for address in addresses:
        body = {kind: address, "password": PASSWORD}
        assert client.post("/v1/registrations", json=body).status_code == 202
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE users SET status = :status WHERE {kind} IN :addresses").bindparams(
                bindparam("addresses", expanding=True)
            ),
            {"status": status, "addresses": addresses},
        )
    forget_throttles(engine)


def _addresses(kind: str, owner: str, attempt: int) -> dict[str, list[str]]:
    """Fresh addresses of `kind` for one attempt, unknown and known."""
    if kind == "email":
        return {
            who: [f"{who}{owner}{attempt}-{n}@example.com" for n in range(ROUNDS)]
            for who in ("unknown", "known")
        }
    base = 1 if owner == "pending" else 5
    return {
        who: [f"+336{base + i}{attempt:02d}{n:05d}" for n in range(ROUNDS)]
        for i, who in enumerate(("unknown", "known"))
    }


def _pairs(
    client: FlaskClient, engine: Engine, route: str, owner: str, kind: str, attempt: int
) -> Pairs:
    """The times of unknown and of known addresses, fresh ones for each attempt."""
    path, body, status = ROUTES[route]
    addresses = _addresses(kind, owner, attempt)
    _register(client, engine, addresses["known"], owner, kind)

    def request(who: str, n: int) -> None:
        named = body(addresses[who][n])
        if kind == "phone":
            named = {"phone": named.pop("email"), **named}
        response = client.post(path, json=named)
        assert response.status_code == status, response.get_data(as_text=True)

    return alternating_pairs(request, ("unknown", "known"), ROUNDS)


@pytest.mark.hash_cost
@pytest.mark.alone
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("route", "owner"), [*((route, "pending") for route in sorted(ROUTES)), ("resend", "active")]
)
def test_known_and_unknown_addresses_take_the_same_time(
    client: FlaskClient, engine: Engine, route: str, owner: str, kind: str
) -> None:
    # A real difference (the known path did more statements, 35 to 45 % more time before)
    # fails every attempt.
    assert_same_time(
        lambda attempt: _pairs(client, engine, route, owner, kind, attempt),
        0.10,
        f"{route} {owner} {kind}",
    )


def test_an_unknown_address_leaves_nothing_behind_but_its_notice(
    client: FlaskClient, engine: Engine
) -> None:
    before = {table: count(engine, table) for table in ("users", "verification_tokens", "outbox")}
    for route in ("resend", "reset"):
        path, body, status = ROUTES[route]
        assert client.post(path, json=body("nobody@example.com")).status_code == status
    after = {table: count(engine, table) for table in ("users", "verification_tokens", "outbox")}
    assert after == {**before, "outbox": before["outbox"] + 2}
    assert count(engine, "outbox", purpose="no_account") == 2


def test_a_known_address_still_gets_its_code(client: FlaskClient, engine: Engine) -> None:
    _register(client, engine, ["ada@example.com"])
    for route in ("resend", "reset"):
        path, body, _ = ROUTES[route]
        client.post(path, json=body("ada@example.com"))
    with engine.connect() as connection:
        purposes = connection.execute(
            text("SELECT purpose FROM outbox WHERE status = 'pending' ORDER BY id")
        ).scalars()
        assert list(purposes) == ["activation", "password_reset"]
