"""Idempotency-Key on POST /v1/registrations."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from support.rows import count, every_value_as_text, written

BODY = {"email": "ada@example.com", "password": "correct horse battery staple"}


def register(client: FlaskClient, body: dict[str, Any], key: str) -> Any:
    return client.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})


def test_a_retry_gets_the_first_answer_and_writes_nothing(
    client: FlaskClient, engine: Engine
) -> None:
    first = register(client, BODY, "key-1")
    assert first.status_code == 202
    before = written(engine)
    retry = register(client, dict(reversed(BODY.items())), "key-1")
    assert retry.status_code == 202
    assert retry.get_json() == first.get_json()
    assert written(engine) == before == {"users": 1, "verification_tokens": 1, "outbox": 1}


def test_the_same_key_with_another_body_is_refused(client: FlaskClient, engine: Engine) -> None:
    assert register(client, BODY, "key-1").status_code == 202
    other = register(client, {**BODY, "full_name": "Ada"}, "key-1")
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("/idempotency-key-reused")
    assert written(engine) == {"users": 1, "verification_tokens": 1, "outbox": 1}


def test_another_key_is_another_request(client: FlaskClient, engine: Engine) -> None:
    assert register(client, BODY, "key-1").status_code == 202
    assert register(client, BODY, "key-2").status_code == 429
    assert count(engine, "outbox") == 1


def test_a_refused_request_is_not_remembered(client: FlaskClient, engine: Engine) -> None:
    assert register(client, {**BODY, "password": "password"}, "key-1").status_code == 422
    assert register(client, BODY, "key-1").status_code == 202
    assert count(engine, "idempotency_keys") == 1


def test_concurrent_retries_write_once(app: Flask, engine: Engine) -> None:
    barrier = threading.Barrier(10)
    answers: list[Any] = []

    def one() -> None:
        client = app.test_client()
        barrier.wait()
        response = register(client, BODY, "same-key")
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [202] * 10
    assert len({body["delivery"]["id"] for _, body in answers}) == 1
    assert written(engine) == {"users": 1, "verification_tokens": 1, "outbox": 1}


def test_bad_keys_are_refused(client: FlaskClient, engine: Engine) -> None:
    for key in ("x" * 256, "tab\there", "two words"):
        response = register(client, BODY, key)
        assert response.status_code == 400
        assert response.get_json()["type"].endswith("/bad-idempotency-key")
    assert written(engine) == {"users": 0, "verification_tokens": 0, "outbox": 0}


def test_keys_and_bodies_are_stored_only_as_hmacs(client: FlaskClient, engine: Engine) -> None:
    register(client, BODY, "my-very-own-key")
    stored = every_value_as_text(engine)
    assert not [v for v in stored if "my-very-own-key" in v or BODY["password"] in v]
