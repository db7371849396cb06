"""POST /v1/address-changes takes the same time whether the password is right, wrong, the
account unknown or the new address taken (SPEC "No enumeration": timing within noise), as
registration does for a taken address."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from support.rows import count, forget_throttles
from support.timing import Pairs, alternating_pairs, assert_same_time

PASSWORD = "correct horse battery staple"
ROUNDS = 25
# What the request gets wrong, against a right one: the password, the account, or the new
# address (another account's).
OTHERS = ("wrong", "unknown", "taken")


def _register(client: FlaskClient, engine: Engine, emails: list[str]) -> None:
    """Active accounts for `emails`, with no throttle left over from signing them up."""
    for email in emails:
        body = {"email": email, "password": PASSWORD}
        assert client.post("/v1/registrations", json=body).status_code == 202
    with engine.begin() as connection:
        connection.execute(text("UPDATE users SET status = 'active'"))
    forget_throttles(engine)


def _pairs(client: FlaskClient, engine: Engine, other: str, attempt: int) -> Pairs:
    """The times of right requests and of `other` ones, fresh accounts each attempt."""
    accounts = {
        who: [f"{who}{attempt}-{n}@example.com" for n in range(ROUNDS)] for who in ("right", other)
    }
    _register(
        client,
        engine,
        accounts["right"]
        + (accounts[other] if other != "unknown" else [])
        + ([f"owner{attempt}-{n}@example.com" for n in range(ROUNDS)] if other == "taken" else []),
    )

    def request(who: str, n: int) -> None:
        new = (
            f"owner{attempt}-{n}@example.com"
            if who == "taken"
            else f"new-{who}{attempt}-{n}@example.org"
        )
        body = {
            "email": accounts[who][n],
            "password": "not the password" if who == "wrong" else PASSWORD,
            "new_email": new,
        }
        response = client.post("/v1/address-changes", json=body)
        assert response.status_code == 202, response.get_data(as_text=True)

    return alternating_pairs(request, ("right", other), ROUNDS)


@pytest.mark.hash_cost
@pytest.mark.alone
@pytest.mark.parametrize("other", OTHERS)
def test_a_right_request_answers_as_fast_as_a_wrong_one(
    client: FlaskClient, engine: Engine, other: str
) -> None:
    codes = count(engine, "outbox", purpose="address_change")
    assert_same_time(
        lambda attempt: _pairs(client, engine, other, attempt), 0.10, f"right against {other}"
    )
    assert count(engine, "outbox", purpose="address_change") > codes
