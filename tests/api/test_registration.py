"""POST /v1/registrations: one transaction, no enumeration, problems for bad input."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from argon2.exceptions import VerifyMismatchError
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from api_service import create_app
from api_service.flows.passwords import _common_passwords, make_hasher
from shared.clock import utcnow
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.hashes import TimedHasher, statement_times
from support.rows import count, every_value_as_text, forget_throttles, rows, written
from support.timing import Pairs, alternating_pairs, assert_same_time

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}
NOTHING = {"users": 0, "verification_tokens": 0, "outbox": 0}


def register(client: FlaskClient, body: dict[str, Any], **kwargs: Any) -> Any:
    return client.post("/v1/registrations", json=body, **kwargs)


@pytest.mark.hash_cost
def test_registration_writes_user_token_and_outbox_row(client: FlaskClient, engine: Engine) -> None:
    response = register(client, {**GOOD, "full_name": "Ada", "locale": "fr"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending_activation"
    assert body["delivery"]["channel"] == "email"
    assert body["delivery"]["status"] == "queued"
    [user] = rows(engine, "users")
    assert (user["email"], user["status"], user["locale"]) == ("ada@example.com", "pending", "fr")
    assert user["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    [token] = rows(engine, "verification_tokens")
    assert (token["user_id"], token["purpose"], token["status"]) == (
        user["id"],
        "activation",
        "active",
    )
    [message] = rows(engine, "outbox")
    assert message["public_id"] == body["delivery"]["id"]
    assert (message["purpose"], message["recipient"], message["status"]) == (
        "activation",
        "ada@example.com",
        "pending",
    )
    assert message["token_id"] == token["id"]
    assert message["expires_at"] == token["expires_at"]
    assert message["secret_params"]


def test_registration_by_phone_goes_by_sms(client: FlaskClient, engine: Engine) -> None:
    response = register(client, {"phone": "+33612345678", "password": GOOD["password"]})
    assert response.status_code == 202
    assert response.get_json()["delivery"]["channel"] == "sms"
    [message] = rows(engine, "outbox")
    assert (message["channel"], message["recipient"]) == ("sms", "+33612345678")


def test_no_plaintext_code_anywhere_in_the_database(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    register(client, GOOD)
    [message] = rows(engine, "outbox")
    code = SecretBox(settings.secret_key).open(message["secret_params"])["code"]
    assert len(code) == 6 and code.isdigit()
    assert not [value for value in every_value_as_text(engine) if code in value]
    assert not [v for v in every_value_as_text(engine) if GOOD["password"] in v]


@pytest.mark.parametrize("table", ["verification_tokens", "outbox"])
def test_failure_after_user_insert_leaves_nothing(
    client: FlaskClient, engine: Engine, backend: str, table: str
) -> None:
    _fail_inserts_into(engine, backend, table)
    response = register(client, GOOD)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert written(engine) == NOTHING


def _fail_inserts_into(engine: Engine, backend: str, table: str) -> None:
    """A real database failure: a trigger that aborts every insert into `table`."""
    with engine.begin() as connection:
        if backend == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION fail()"
                )
            )


def test_twenty_concurrent_registrations_of_one_address(app: Flask, engine: Engine) -> None:
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def one() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(register(client, GOOD).status_code)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] + [429] * 19
    assert count(engine, "users") == 1
    assert count(engine, "verification_tokens") == 1
    assert count(engine, "outbox", purpose="activation") == 1
    assert count(engine, "outbox", purpose="account_exists") == 0


def _make_owner(engine: Engine, status: str) -> None:
    """Every account `status`: an active one proven at its addresses, as its codes would."""
    proven = (
        ", email_proven_at = CASE WHEN email IS NOT NULL THEN created_at END,"
        " phone_proven_at = CASE WHEN phone IS NOT NULL THEN created_at END"
    )
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE users SET status = :status{proven if status == 'active' else ''}"),
            {"status": status},
        )


@pytest.mark.parametrize("owner", ["active", "pending"])
def test_existing_address_answers_like_a_new_one(
    client: FlaskClient, engine: Engine, owner: str
) -> None:
    new = register(client, {**GOOD, "full_name": "Ada"})
    _make_owner(engine, owner)
    forget_throttles(engine)
    again = register(
        client,
        {**GOOD, "email": "ADA@example.com", "password": "another passphrase", "full_name": "Eve"},
    )
    assert again.status_code == new.status_code == 202
    assert _shape(again.get_json()) == _shape(new.get_json())
    assert again.get_json()["delivery"]["status"] == new.get_json()["delivery"]["status"]
    assert again.get_json()["delivery"]["id"] != new.get_json()["delivery"]["id"]
    assert _header_names(again) == _header_names(new)
    assert again.headers["Content-Length"] == new.headers["Content-Length"]
    assert count(engine, "users") == 1
    [first, second] = rows(engine, "outbox")
    if owner == "active":
        # An active owner hears that the account exists: no code, nobody's name.
        assert (second["purpose"], second["recipient"]) == ("account_exists", "ada@example.com")
        assert second["secret_params"] is None
    else:
        # A pending owner gets a fresh code instead; the older one and its message die.
        assert (second["purpose"], second["status"]) == ("activation", "pending")
        assert second["secret_params"]
        assert first["status"] == "cancelled"
        assert count(engine, "verification_tokens", status="active") == 1
    for message in (first, second):
        assert "full_name" not in message["params"]
    for response in (new, again):
        delivery = client.get(f"/v1/deliveries/{response.get_json()['delivery']['id']}")
        assert delivery.status_code == 200
        assert _shape(delivery.get_json()) == _shape(
            client.get(f"/v1/deliveries/{new.get_json()['delivery']['id']}").get_json()
        )


@pytest.mark.parametrize("owner", ["active", "pending"])
def test_a_free_address_beside_a_held_one_gets_what_it_would_alone(
    client: FlaskClient, engine: Engine, owner: str
) -> None:
    """SPEC "An unproven address holds nothing": what a registration sends to the address on
    its channel depends on that address alone, so a second address tells nothing."""
    register(client, GOOD)
    _make_owner(engine, owner)
    forget_throttles(engine)
    body = {**GOOD, "phone": "+33612345678", "channel": "sms"}
    again = register(client, body)
    assert again.status_code == 202
    delivery = again.get_json()["delivery"]
    assert delivery["channel"] == "sms"
    assert client.get(f"/v1/deliveries/{delivery['id']}").get_json()["channel"] == "sms"
    # The number gets its activation code, for an account of its own; the owner nothing.
    message = next(r for r in rows(engine, "outbox") if r["public_id"] == delivery["id"])
    assert (message["channel"], message["recipient"]) == ("sms", "+33612345678")
    assert message["purpose"] == "activation" and message["secret_params"]
    [_, new] = rows(engine, "users")
    assert (new["email"], new["phone"], new["status"]) == (None, "+33612345678", "pending")
    assert count(engine, "outbox", recipient="ada@example.com") == 1


def test_existing_phone_gets_the_notice_by_sms(client: FlaskClient, engine: Engine) -> None:
    register(client, {"phone": "+33612345678", "password": GOOD["password"]})
    _make_owner(engine, "active")
    forget_throttles(engine)
    again = register(client, {**GOOD, "phone": "+33612345678", "channel": "sms"})
    assert again.status_code == 202
    assert again.get_json()["delivery"]["channel"] == "sms"
    [notice] = [r for r in rows(engine, "outbox") if r["purpose"] == "account_exists"]
    assert (notice["channel"], notice["recipient"]) == ("sms", "+33612345678")
    # The email beside it is held for whoever proves it, with no password yet and nothing sent
    # to it (shared/accounts/contests.py).
    [held] = [u for u in rows(engine, "users") if u["email"] == GOOD["email"]]
    assert (held["phone"], held["status"], held["contested"]) == (None, "pending", True)
    assert [r for r in rows(engine, "outbox") if r["recipient"] == GOOD["email"]] == []


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def _header_names(response: Any) -> list[str]:
    return sorted(name for name, _ in response.headers)


BAD_BODIES = [
    pytest.param({"email": "ada@example.com"}, 422, "password", id="missing-password"),
    pytest.param({**GOOD, "password": 12345678}, 422, "password", id="wrong-type"),
    pytest.param({**GOOD, "admin": True}, 422, "admin", id="unknown-field"),
    pytest.param({**GOOD, "email": "not-an-email"}, 422, "email", id="bad-email"),
    pytest.param({**GOOD, "phone": "0612345678"}, 422, "phone", id="bad-phone"),
    pytest.param({**GOOD, "password": "x" * 7}, 422, "password", id="7-char-password"),
    pytest.param({**GOOD, "password": "x" * 129}, 422, "password", id="129-char-password"),
    pytest.param({**GOOD, "password": "password123"}, 422, "password", id="common-password"),
    pytest.param({"password": GOOD["password"]}, 422, "email", id="no-address"),
    pytest.param({**GOOD, "channel": "sms"}, 422, "phone", id="sms-without-phone"),
    pytest.param({**GOOD, "locale": "de"}, 422, "locale", id="bad-locale"),
    pytest.param({**GOOD, "channel": "fax"}, 422, "channel", id="bad-channel"),
    pytest.param(["not", "an", "object"], 422, "", id="not-an-object"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    client: FlaskClient, engine: Engine, body: Any, status: int, field: str
) -> None:
    response = client.post("/v1/registrations", json=body)
    assert response.status_code == status
    problem = _problem(response)
    assert f"#/{field}" in [error["pointer"] for error in problem["errors"]]
    assert written(engine) == NOTHING


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        pytest.param("{not json", "application/json", 400, id="malformed-json"),
        pytest.param(json.dumps(GOOD), "text/plain", 415, id="wrong-media-type"),
        pytest.param(
            json.dumps({**GOOD, "full_name": "x" * (1 << 20)}),
            "application/json",
            413,
            id="1MiB-body",
        ),
    ],
)
def test_unreadable_bodies_are_problems_and_write_nothing(
    client: FlaskClient, engine: Engine, data: str, content_type: str, status: int
) -> None:
    response = client.post("/v1/registrations", data=data, content_type=content_type)
    assert response.status_code == status
    assert _problem(response)["status"] == status
    assert written(engine) == NOTHING


def test_passwords_of_128_unicode_characters_are_accepted_whole(
    client: FlaskClient, engine: Engine
) -> None:
    password = "é" * 127 + "ß"
    assert register(client, {**GOOD, "password": password}).status_code == 202
    [user] = rows(engine, "users")
    assert make_hasher().verify(user["password_hash"], password)
    with pytest.raises(VerifyMismatchError):
        make_hasher().verify(user["password_hash"], password[:-1])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/registrations", 405), ("GET", "/nowhere", 404), ("DELETE", "/healthz", 405)],
)
def test_routing_errors_are_problems(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert _problem(response)["status"] == status


def _problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json()
    assert {"type", "title", "status"} <= problem.keys()
    assert "Traceback" not in response.get_data(as_text=True)
    return problem


@pytest.mark.hash_cost
@pytest.mark.alone
def test_an_existing_address_answers_as_fast_as_a_new_one(
    client: FlaskClient, engine: Engine
) -> None:
    rounds = 25

    def measure(attempt: int) -> Pairs:
        """Times of new addresses and of active owners' ones, fresh for each attempt."""
        for n in range(rounds):
            body = {**GOOD, "email": f"old{attempt}-{n}@example.com"}
            assert register(client, body).status_code == 202
        _make_owner(engine, "active")
        forget_throttles(engine)
        notices = count(engine, "outbox", purpose="account_exists")

        def request(kind: str, n: int) -> None:
            body = {**GOOD, "email": f"{kind}{attempt}-{n}@example.com"}
            assert register(client, body).status_code == 202

        pairs = alternating_pairs(request, ("new", "old"), rounds)
        assert count(engine, "outbox", purpose="account_exists") == notices + rounds
        return pairs

    assert_same_time(measure, 0.25, "an existing address against a new one")


def test_postgresql_hashes_beside_the_first_statements_and_sqlite_before(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    """With PostgreSQL the answer waits for the longer of the hash and the statements before
    the user's insert, not both; SQLite's write lock must not be held through a hash."""
    # A hash made long enough that a loaded machine cannot finish it before the helper thread
    # has had its turn.
    hasher = TimedHasher(app, meanwhile=lambda: time.sleep(0.2))
    statements = statement_times(app)
    on_request = statement_times(app, thread=threading.get_ident())
    assert register(client, GOOD).status_code == 202
    [(started, ended)] = hasher.spans
    during = [at for at in statements if started < at < ended]
    if engine.dialect.name == "postgresql":
        # Only what the hash needs comes first on the request's thread, which hashes: the read
        # of a pending account's hash (and the keyring's, which the process's first request
        # reads once). The statements beside it run on a thread submitted just before the hash
        # notes its start, which a loaded machine can let run first (two of them, in CI).
        before = [at for at in on_request if at < started]
        assert len(before) <= 2, "statements other than the hash needs ran before it"
        assert during, "the throttle's lock and check run during the hash"
    else:
        assert during == []
    assert [at for at in statements if at > ended], "the hash is stored once it is done"


@pytest.mark.postgresql_only
def test_an_early_answer_still_waits_for_the_hash(app: Flask, client: FlaskClient) -> None:
    """A refusal found beside the hash (here the recipient's cooldown) answers once the hash is
    done, so that it neither takes less time than an accepted registration nor leaves a hash
    running after the answer."""
    assert register(client, GOOD).status_code == 202
    hasher = TimedHasher(app)
    response = register(client, GOOD)
    answered = time.perf_counter()
    assert response.status_code == 429
    [(_, ended)] = hasher.spans
    assert ended < answered


def test_the_common_passwords_are_read_before_the_first_request(env: dict[str, str]) -> None:
    """The list is read as the app starts (7 ms here), not by the first sign-up."""
    _common_passwords.cache_clear()
    create_app(env)
    assert _common_passwords.cache_info().currsize == 1


def test_another_writer_is_not_kept_waiting_by_the_hash(
    app: Flask, client: FlaskClient, database_url: str, backend: str
) -> None:
    """While a sign-up hashes, another connection writes at once: SQLite's only write lock is
    taken after the hash (a unit of work begins with its first statement, not on entry)."""
    probe = create_engine(database_url, connect_args={"timeout": 0} if backend == "sqlite" else {})
    written: list[str] = []

    def write_meanwhile() -> None:
        with probe.begin() as connection:
            connection.execute(
                text("INSERT INTO throttle_events (key, at) VALUES ('p', :at)"), {"at": utcnow()}
            )
        written.append("during the hash")

    TimedHasher(app, meanwhile=write_meanwhile)
    try:
        assert register(client, GOOD).status_code == 202
    finally:
        probe.dispose()
    assert written == ["during the hash"]
