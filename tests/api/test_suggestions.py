"""Did-you-mean: a registration's `suggestion` when its domain looks mistyped, read from the
address alone (SPEC "The application's say over sign-ups")."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api_service.suggestions import COMMON, suggestion
from support.rows import forget_throttles

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        # A swap of two adjacent letters, a letter missing, one too many, one wrong.
        ("jane@gmial.com", "jane@gmail.com"),
        ("jane@gmai.com", "jane@gmail.com"),
        ("jane@gmaill.com", "jane@gmail.com"),
        ("jane@gmail.con", "jane@gmail.com"),
        ("jane@hotmial.com", "jane@hotmail.com"),
        ("jane@hotmail.fe", "jane@hotmail.fr"),
        ("jane@outlok.com", "jane@outlook.com"),
        ("jane@yahoo.co", "jane@yahoo.com"),
        ("jane@iclod.com", "jane@icloud.com"),
        ("jane.doe+news@gmial.com", "jane.doe+news@gmail.com"),
        # The common domains themselves, real ones near them, and domains near none.
        ("jane@gmail.com", None),
        ("jane@mail.com", None),
        ("jane@email.com", None),
        ("jane@ymail.com", None),
        ("jane@cloud.com", None),
        ("jane@example.com", None),
        ("jane@gmx.de", None),
        # Two edits away: no guess.
        ("jane@gmal.cm", None),
    ],
)
def test_a_domain_one_edit_or_swap_from_a_common_one_is_suggested(
    email: str, expected: str | None
) -> None:
    assert suggestion(email) == expected


def test_no_common_domain_is_one_edit_from_another() -> None:
    """Else a typo of one could be suggested as the other, or as nothing (two guesses)."""
    assert [(a, b) for a in COMMON for b in COMMON if a < b and suggestion(f"x@{a}") == b] == []


def register(client: FlaskClient, body: dict[str, Any], **kwargs: Any) -> Any:
    response = client.post("/v1/registrations", json={**body, "password": PASSWORD}, **kwargs)
    assert response.status_code == 202, response.get_json()
    return response


def test_a_mistyped_domain_gets_a_suggestion_in_the_202(client: FlaskClient) -> None:
    answer = register(client, {"email": "Jane@GMIAL.com"}).get_json()
    assert answer["suggestion"] == "jane@gmail.com"
    assert answer["status"] == "pending_activation"
    assert "suggestion" not in register(client, {"email": "jane@gmail.com"}).get_json()


def test_a_taken_address_and_a_free_one_get_the_same_suggestion(
    client: FlaskClient, engine: Engine
) -> None:
    register(client, {"email": "ada@gmial.com"})
    register(client, {"email": "bob@gmial.com"})
    with engine.begin() as connection:
        connection.execute(text("UPDATE users SET status = 'active' WHERE email = 'bob@gmial.com'"))
    forget_throttles(engine)
    answers = {
        email: register(client, {"email": email})
        for email in ("ada@gmial.com", "bob@gmial.com", "eve@gmial.com")
    }
    shown = {email: response.get_json() for email, response in answers.items()}
    for email, answer in shown.items():
        assert answer["suggestion"] == email.replace("gmial", "gmail")
        assert answer.keys() == shown["eve@gmial.com"].keys()
    assert len({response.headers["Content-Length"] for response in answers.values()}) == 1


def test_a_retry_with_the_idempotency_key_gets_the_suggestion_again(client: FlaskClient) -> None:
    headers = {"Idempotency-Key": "suggestion-retry-1"}
    first = register(client, {"email": "jane@gmial.com"}, headers=headers).get_json()
    again = register(client, {"email": "jane@gmial.com"}, headers=headers).get_json()
    assert first == again and again["suggestion"] == "jane@gmail.com"


def test_a_registration_by_phone_alone_has_no_suggestion(client: FlaskClient) -> None:
    assert "suggestion" not in register(client, {"phone": "+33612345678"}).get_json()
