"""Throttles per recipient and purpose, and per client IP, kept in the database."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event

from api_service import create_app
from api_service.flows.client_limit import RefusedClients
from shared.accounts.accounts import insert_user, password_hash_of, password_setting
from shared.database.throttle import Limit, Throttle
from support import processes
from support.hashes import TimedHasher
from support.ports import free_port
from support.rows import count, forget_throttles, let_time_pass

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


def post(client: FlaskClient, path: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(path, json=body, **kwargs)


def test_one_message_per_recipient_and_purpose_per_cooldown(
    client: FlaskClient, engine: Engine
) -> None:
    assert post(
        client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD}
    ).status_code == (202)
    response = post(client, "/v1/activations/resend", {"email": EMAIL})
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert count(engine, "outbox") == 1
    assert post(client, "/v1/password-resets", {"email": EMAIL}).status_code == 202

    let_time_pass(engine, 61)
    assert post(client, "/v1/activations/resend", {"email": EMAIL}).status_code == 202
    assert count(engine, "outbox", purpose="activation") == 2


def test_five_messages_per_hour(client: FlaskClient, engine: Engine) -> None:
    started = time.monotonic()
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    for _ in range(4):
        let_time_pass(engine, 61)
        assert post(client, "/v1/activations/resend", {"email": EMAIL}).status_code == 202
    let_time_pass(engine, 61)
    response = post(client, "/v1/activations/resend", {"email": EMAIL})
    assert response.status_code == 429
    # The hour counts from the first message: the seconds the test itself took (many, on a
    # loaded machine) come off it too.
    early = 3600 - 5 * 61 - int(response.headers["Retry-After"])
    assert 0 <= early <= math.ceil(time.monotonic() - started), early
    assert count(engine, "outbox", purpose="activation") == 5


def test_switching_channel_does_not_reset_the_cooldown(client: FlaskClient, engine: Engine) -> None:
    body = {"email": EMAIL, "phone": "+33612345678", "password": PASSWORD}
    assert post(client, "/v1/registrations", body).status_code == 202
    response = post(client, "/v1/activations/resend", {"email": EMAIL, "channel": "sms"})
    assert response.status_code == 429
    assert count(engine, "outbox") == 1


def test_limits_are_configurable(env: dict[str, str], engine: Engine) -> None:
    app = create_app({**env, "THROTTLE_COOLDOWN": "1", "THROTTLE_PER_HOUR": "2"})
    client = app.test_client()
    post(client, "/v1/password-resets", {"email": EMAIL})
    let_time_pass(engine, 2)
    assert post(client, "/v1/password-resets", {"email": EMAIL}).status_code == 202
    let_time_pass(engine, 2)
    assert post(client, "/v1/password-resets", {"email": EMAIL}).status_code == 429
    app.extensions["outpost"].engine.dispose()


def test_concurrent_resends_send_one_message(app: Flask, engine: Engine) -> None:
    post(app.test_client(), "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    forget_throttles(engine)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def one() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(post(client, "/v1/activations/resend", {"email": EMAIL}).status_code)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] + [429] * 9
    assert count(engine, "outbox", purpose="activation") == 2


@pytest.fixture
def strict_apps(env: dict[str, str]) -> Iterator[tuple[Flask, Flask]]:
    """Two API instances on one database with 3 POSTs a minute per IP, as two workers are."""
    apps = (create_app({**env, "IP_RATE_LIMIT": "3"}), create_app({**env, "IP_RATE_LIMIT": "3"}))
    yield apps
    for app in apps:
        app.extensions["outpost"].engine.dispose()


def test_client_ip_limit_holds_across_instances_and_counts_bad_bodies(
    strict_apps: tuple[Flask, Flask], engine: Engine
) -> None:
    first, second = (app.test_client() for app in strict_apps)
    assert post(first, "/v1/password-resets", {"email": "a@example.com"}).status_code == 202
    assert post(second, "/v1/password-resets", {"email": 12}).status_code == 422
    assert first.post("/v1/password-resets", data="{").status_code == 415
    refused = post(second, "/v1/password-resets", {"email": "b@example.com"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other_ip = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}
    assert post(
        first, "/v1/password-resets", {"email": "c@example.com"}, **other_ip
    ).status_code == (202)
    assert first.get("/healthz").status_code == 200
    let_time_pass(engine, 61)
    assert post(second, "/v1/password-resets", {"email": "d@example.com"}).status_code == 202


def test_forwarded_for_is_trusted_only_behind_configured_proxies(
    env: dict[str, str],
) -> None:
    for proxies, expected in (("0", 429), ("1", 202)):
        app = create_app({**env, "IP_RATE_LIMIT": "1", "TRUSTED_PROXIES": proxies})
        client = app.test_client()
        hops = [{"X-Forwarded-For": f"198.51.100.{n}"} for n in (1, 2)]
        statuses = [
            post(client, "/v1/password-resets", {"email": f"{proxies}{n}@example.com"}, headers=h)
            for n, h in enumerate(hops)
        ]
        assert [s.status_code for s in statuses] == [202, expected]
        app.extensions["outpost"].engine.dispose()


def test_client_ip_limit_holds_across_gunicorn_workers(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    api = processes.gunicorn(
        {**env, "IP_RATE_LIMIT": "5"},
        port,
        tmp_path,
    )
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
        statuses = [
            processes.post_json(
                f"http://127.0.0.1:{port}/v1/password-resets", {"email": f"u{n}@example.com"}
            )[0]
            for n in range(9)
        ]
    finally:
        assert processes.stop(api) == 0
    assert statuses == [202] * 5 + [429] * 4


def test_a_limited_subject_records_no_event_for_any_subject(engine: Engine) -> None:
    throttle = Throttle("k" * 32)
    limits = [Limit(1, 60), Limit(5, 3600)]
    now = datetime.now(UTC)
    with engine.begin() as connection:
        assert throttle.take(connection, ["a"], limits, now) == 0
    with engine.begin() as connection:
        assert throttle.take(connection, ["b", "a"], limits, now + timedelta(seconds=10)) == 50
    assert count(engine, "throttle_events") == 1
    with engine.begin() as connection:
        assert throttle.take(connection, ["b", "a"], limits, now + timedelta(seconds=61)) == 0
    assert count(engine, "throttle_events") == 3


def test_an_update_along_a_take_runs_whatever_the_limits_say(engine: Engine) -> None:
    """On PostgreSQL it goes in the lock's statement; on SQLite before the check."""
    throttle = Throttle("k" * 32)
    limits = [Limit(1, 60)]
    now = datetime.now(UTC)
    with engine.begin() as connection:
        user_id = insert_user(connection, now, email=EMAIL, password_hash="!", locale="en")
        along = password_setting(user_id, "first")
        assert throttle.take(connection, ["a"], limits, now, along=along) == 0
    with engine.begin() as connection:
        along = password_setting(user_id, "second")
        assert throttle.take(connection, ["a"], limits, now, along=along) == 60
    with engine.connect() as connection:
        assert user_id is not None and password_hash_of(connection, user_id) == "second"


def test_events_are_forgotten_only_when_the_take_records(engine: Engine) -> None:
    throttle = Throttle("k" * 32)
    limits = [Limit(1, 60)]
    now = datetime.now(UTC)
    with engine.begin() as connection:
        throttle.record(connection, ["tries", "tries", "other"], now)
        assert throttle.take(connection, ["a"], limits, now, forget=["tries"]) == 0
    # The limited take keeps them; the one let through forgets them, and nothing else.
    with engine.begin() as connection:
        throttle.record(connection, ["tries"], now)
        assert throttle.take(connection, ["a"], limits, now, forget=["tries"]) == 60
    assert count(engine, "throttle_events") == 3
    with engine.begin() as connection:
        assert throttle.take(connection, ["b"], limits, now, forget=["tries", "none"]) == 0
    assert count(engine, "throttle_events") == 3


@pytest.fixture
def one_post_a_minute(env: dict[str, str]) -> Iterator[Flask]:
    """The API allowing one POST a minute per client IP."""
    app = create_app({**env, "IP_RATE_LIMIT": "1"})
    yield app
    app.extensions["outpost"].engine.dispose()


RESET_CONFIRM = {"email": EMAIL, "code": "123456", "new_password": PASSWORD}


@pytest.mark.hash_cost
@pytest.mark.alone
@pytest.mark.parametrize(
    ("path", "body", "read_first"),
    [
        # A registration first reads whether a pending account holds the address, whose hash
        # it would check instead of hashing (SPEC "Proof of address"): one statement.
        ("/v1/registrations", {"email": EMAIL, "password": PASSWORD}, 1),
        ("/v1/password-resets/confirm", RESET_CONFIRM, 0),
    ],
)
def test_routes_that_hash_check_the_client_beside_the_hash(
    app: Flask, path: str, body: dict[str, Any], read_first: int
) -> None:
    """The hash does not wait for the per-IP check: the check comes beside it.

    The check's second statement waits until the hash has started: beside the hash it soon
    has, and the request goes on; run before the hash, it would wait the whole minute. No
    clock is compared, so a loaded machine that runs the check's thread ahead of the hash's
    start (it failed CI once by 2.8 ms) cannot fail it.
    """
    hash_started = threading.Event()
    hasher = TimedHasher(app, meanwhile=hash_started.set)
    waited: list[bool] = []

    def hold(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN"):
            return
        seen.append(statement)
        if len(seen) == read_first + 2:
            waited.append(hash_started.wait(60))

    seen: list[str] = []
    event.listen(app.extensions["outpost"].engine, "before_cursor_execute", hold)
    post(app.test_client(), path, body)
    assert len(hasher.spans) == 1
    assert waited == [True], "the check's statements waited for the hash to start"
    assert count(app.extensions["outpost"].engine, "throttle_events") >= 1


def test_a_client_refused_beside_its_hash_is_checked_first_afterwards(
    one_post_a_minute: Flask,
) -> None:
    """Over its limit, a client costs this worker one hash; then no more until the wait ends."""
    hasher = TimedHasher(one_post_a_minute)
    client = one_post_a_minute.test_client()
    bodies = [{"email": f"u{n}@example.com", "password": PASSWORD} for n in range(3)]
    statuses = [post(client, "/v1/registrations", body).status_code for body in bodies]
    assert statuses == [202, 429, 429]
    assert len(hasher.spans) == 2


def test_a_sign_up_with_a_bad_body_still_counts_against_its_client(
    one_post_a_minute: Flask, engine: Engine
) -> None:
    client = one_post_a_minute.test_client()
    assert post(client, "/v1/registrations", {"email": EMAIL, "password": 12}).status_code == 422
    refused = post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert count(engine, "users") == 0


def test_a_sign_up_refused_for_its_address_still_counts_against_its_client(
    env: dict[str, str], engine: Engine
) -> None:
    """The per-IP count goes with the registration's transaction; a refusal rolls that back,
    and the client is counted in a transaction of its own instead."""
    app = create_app({**env, "IP_RATE_LIMIT": "2"})
    client = app.test_client()
    body = {"email": EMAIL, "password": PASSWORD}
    assert post(client, "/v1/registrations", body).status_code == 202
    again = post(client, "/v1/registrations", body)
    assert again.status_code == 429
    assert again.json["detail"] == "A message was sent to this address recently."
    other = post(client, "/v1/registrations", {"email": "other@example.com", "password": PASSWORD})
    assert other.status_code == 429
    assert other.json["detail"] == "Too many requests from this address; slow down."
    assert count(engine, "users") == 1
    app.extensions["outpost"].engine.dispose()


def test_refused_clients_are_forgotten_when_their_wait_ends_or_room_runs_out() -> None:
    refused = RefusedClients(capacity=2)
    refused.note("a", 60)
    refused.note("b", 0)
    assert refused.recent("a") and not refused.recent("b") and not refused.recent("c")
    refused.note("c", 60)  # b's wait is over: it makes room
    assert refused.recent("a") and refused.recent("c")
    refused.note("d", 60)  # no room: the oldest goes
    assert not refused.recent("a") and refused.recent("c") and refused.recent("d")
