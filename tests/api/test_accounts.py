"""The life of an account through the API, the real relay and a real SMTP server."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select, update

from api_service import create_app
from outbox_relay.relay import Relay
from shared.accounts.verification import issue_code
from shared.clock import utcnow
from shared.database.models import users, verification_tokens
from shared.runtime.logs import JsonFormatter
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.rows import count, every_value_as_text, forget_throttles, let_time_pass, rows
from support.smtp_sink import SinkServer, code_in

EMAIL = "ada@example.com"
PHONE = "+33612345678"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"


def post(client: FlaskClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body)


def register_and_read_code(client: FlaskClient, relay: Relay, smtp: SinkServer) -> str:
    """Register ada, let the relay send the activation, read the code from the mail."""
    assert post(
        client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD}
    ).status_code == (202)
    assert relay.drain() == 1
    return code_in(smtp.sink.wait_for(1)[-1])


def pending_code(engine: Engine, settings: Settings, purpose: str) -> str:
    """The code of the newest pending message of `purpose`, decrypted as the relay would."""
    [row] = [
        r for r in rows(engine, "outbox") if r["purpose"] == purpose and r["status"] == "pending"
    ]
    code: str = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    return code


def subjects(smtp: SinkServer) -> list[str]:
    return [str(message["Subject"]) for message in smtp.sink.received]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_register_mail_activate_welcome(
    client: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    code = register_and_read_code(client, relay, smtp)
    response = post(client, "/v1/activations", {"email": EMAIL, "code": code})
    assert (response.status_code, response.get_json()) == (200, {"status": "active"})
    [user] = rows(engine, "users")
    assert user["status"] == "active" and user["activated_at"] is not None
    [token] = rows(engine, "verification_tokens")
    assert (token["status"], token["used_at"] is not None) == ("used", True)
    assert relay.drain() == 1
    smtp.sink.wait_for(2)
    assert subjects(smtp) == ["Activate your Outpost account", "Welcome to Outpost"]
    assert [r["status"] for r in rows(engine, "outbox")] == ["sent", "sent"]

    again = post(client, "/v1/activations", {"email": EMAIL, "code": code})
    assert again.status_code == 400
    assert again.get_json()["type"].endswith("/invalid-code")


def test_a_code_left_live_on_an_active_account_activates_without_a_second_welcome(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """A resend that read the account pending just before its activation committed issues a
    code to an active account; spending that code must not welcome the user or tell the
    application of the activation a second time."""
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    first = pending_code(engine, settings, "activation")
    assert post(client, "/v1/activations", {"email": EMAIL, "code": first}).status_code == 200
    with engine.begin() as connection:
        [user] = connection.execute(select(users)).all()
        issued = issue_code(
            connection,
            settings.secret_key,
            user_id=user.id,
            purpose="activation",
            ttl=settings.activation_ttl,
            now=utcnow(),
        )
    response = post(client, "/v1/activations", {"email": EMAIL, "code": issued.code})
    assert (response.status_code, response.get_json()) == (200, {"status": "active"})
    assert [r["purpose"] for r in rows(engine, "outbox")].count("welcome") == 1
    assert [user["activated_at"] for user in rows(engine, "users")] == [user.activated_at]


def test_activation_by_phone_and_welcome_by_sms(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    assert post(
        client, "/v1/registrations", {"phone": PHONE, "password": PASSWORD}
    ).status_code == (202)
    code = pending_code(engine, settings, "activation")
    response = post(client, "/v1/activations", {"phone": PHONE, "code": code})
    assert response.status_code == 200
    welcome = [r for r in rows(engine, "outbox") if r["purpose"] == "welcome"]
    assert [(w["channel"], w["recipient"]) for w in welcome] == [("sms", PHONE)]


def test_reset_mail_confirm_notice(
    client: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    activate(client, relay, smtp)
    response = post(client, "/v1/password-resets", {"email": EMAIL})
    answer = response.get_json()
    assert (response.status_code, answer["status"]) == (202, "accepted")
    assert (answer["delivery"]["channel"], answer["delivery"]["status"]) == ("email", "queued")
    assert relay.drain() == 1
    reset = smtp.sink.wait_for(3)[-1]
    assert reset["Subject"] == "Reset your Outpost password"
    code = code_in(reset)

    confirm = {"email": EMAIL, "code": code, "new_password": NEW_PASSWORD}
    response = post(client, "/v1/password-resets/confirm", confirm)
    assert (response.status_code, response.get_json()) == (200, {"status": "password_changed"})
    [user] = rows(engine, "users")
    assert PasswordHasher().verify(user["password_hash"], NEW_PASSWORD)
    assert relay.drain() == 1
    changed = smtp.sink.wait_for(4)[-1]
    assert subjects(smtp)[-1] == "Your Outpost password was changed"
    # The notice says when: the minute of the change, in UTC.
    text = changed.get_body(("plain",))
    assert text is not None
    assert re.search(r"was changed on \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", text.get_content())

    reused = post(client, "/v1/password-resets/confirm", {**confirm, "new_password": "x" * 20})
    assert reused.status_code == 400
    [user] = rows(engine, "users")
    assert PasswordHasher().verify(user["password_hash"], NEW_PASSWORD)


def activate(client: FlaskClient, relay: Relay, smtp: SinkServer) -> None:
    """Register and activate ada; her welcome mail is sent."""
    code = register_and_read_code(client, relay, smtp)
    assert post(client, "/v1/activations", {"email": EMAIL, "code": code}).status_code == 200
    assert relay.drain() == 1


def activated(client: FlaskClient, engine: Engine, settings: Settings, address: Any) -> None:
    """Register `address` ({"email": …} or {"phone": …}) and activate it with its code, which
    proves it: only a proven address gets reset codes."""
    assert post(client, "/v1/registrations", {**address, "password": PASSWORD}).status_code == 202
    code = pending_code(engine, settings, "activation")
    assert post(client, "/v1/activations", {**address, "code": code}).status_code == 200


def test_reset_confirm_refuses_a_bad_new_password_and_keeps_the_code(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    activated(client, engine, settings, {"email": EMAIL})
    post(client, "/v1/password-resets", {"email": EMAIL})
    code = pending_code(engine, settings, "password_reset")
    response = post(
        client,
        "/v1/password-resets/confirm",
        {"email": EMAIL, "code": code, "new_password": "short"},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "#/new_password"
    [token] = [t for t in rows(engine, "verification_tokens") if t["purpose"] == "password_reset"]
    assert (token["status"], token["failed_attempts"]) == ("active", 0)


def test_an_expired_code_is_refused(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    code = pending_code(engine, settings, "activation")
    with engine.begin() as connection:
        connection.execute(
            update(verification_tokens).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = post(client, "/v1/activations", {"email": EMAIL, "code": code})
    assert response.status_code == 400
    assert rows(engine, "users")[0]["status"] == "pending"


def test_a_new_code_supersedes_the_old_and_cancels_its_message(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    old = pending_code(engine, settings, "activation")
    forget_throttles(engine)
    assert post(client, "/v1/activations/resend", {"email": EMAIL}).status_code == 202
    new = pending_code(engine, settings, "activation")
    first, second = rows(engine, "outbox")
    assert (first["status"], first["secret_params"]) == ("cancelled", None)
    assert second["status"] == "pending"
    assert [t["status"] for t in rows(engine, "verification_tokens")] == ["superseded", "active"]
    if old != new:
        assert post(client, "/v1/activations", {"email": EMAIL, "code": old}).status_code == 400
    assert post(client, "/v1/activations", {"email": EMAIL, "code": new}).status_code == 200


def test_a_code_with_a_trailing_newline_is_bad_input_and_costs_no_try(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    code = pending_code(engine, settings, "activation")
    for _ in range(5):
        response = post(client, "/v1/activations", {"email": EMAIL, "code": code + "\n"})
        assert response.status_code == 422
        assert [e["pointer"] for e in response.get_json()["errors"]] == ["#/code"]
    response = post(client, "/v1/activations", {"email": EMAIL, "code": code})
    assert response.status_code == 200


def test_five_wrong_tries_kill_the_code(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    code = pending_code(engine, settings, "activation")
    for _ in range(5):
        response = post(client, "/v1/activations", {"email": EMAIL, "code": wrong(code)})
        assert response.status_code == 400
    response = post(client, "/v1/activations", {"email": EMAIL, "code": code})
    assert response.status_code == 429
    assert response.get_json()["type"].endswith("/code-exhausted")
    # The tries are counted over the code's lifetime: the wait is at most that long.
    assert 0 < int(response.headers["Retry-After"]) <= settings.activation_ttl
    [token] = rows(engine, "verification_tokens")
    assert (token["status"], token["failed_attempts"]) == ("dead", 5)
    [message] = rows(engine, "outbox")
    assert (message["status"], message["secret_params"]) == ("cancelled", None)
    assert rows(engine, "users")[0]["status"] == "pending"


def test_a_hundred_wrong_codes_lock_typed_codes_across_purposes_for_a_day(
    env: dict[str, str], engine: Engine, settings: Settings
) -> None:
    app = create_app({**env, "THROTTLE_COOLDOWN": "1", "THROTTLE_PER_HOUR": "100"})
    client = app.test_client()
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    # The first wrong code starts the day (the budget on guessing over time); the Retry-After
    # below counts from it, less the 40 s let pass and whatever the test itself takes here.
    started = time.monotonic()
    for round_ in range(20):
        if round_:
            let_time_pass(engine, 2)
            assert post(client, "/v1/activations/resend", {"email": EMAIL}).status_code == 202
        code = pending_code(engine, settings, "activation")
        for _ in range(5):
            response = post(client, "/v1/activations", {"email": EMAIL, "code": wrong(code)})
            assert response.status_code == 400
    let_time_pass(engine, 2)
    assert post(client, "/v1/activations/resend", {"email": EMAIL}).status_code == 202
    right = {"email": EMAIL, "code": pending_code(engine, settings, "activation")}
    response = post(client, "/v1/activations", right)
    assert response.status_code == 429
    assert response.get_json()["type"].endswith("/too-many-requests")
    took = time.monotonic() - started
    assert 86400 - 20 * 2 - took - 1 <= int(response.headers["Retry-After"]) <= 86400
    let_time_pass(engine, 86400)
    assert post(client, "/v1/activations", right).status_code == 200
    app.extensions["outpost"].engine.dispose()


def test_codes_answer_alike_for_known_and_unknown_addresses(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    post(client, "/v1/password-resets", {"email": EMAIL})
    code = pending_code(engine, settings, "activation")
    for path, extra in (
        ("/v1/activations", {}),
        ("/v1/password-resets/confirm", {"new_password": NEW_PASSWORD}),
    ):
        answers: dict[str, list[tuple[int, str]]] = {EMAIL: [], "nobody@example.com": []}
        for address, seen in answers.items():
            for _ in range(6):
                response = post(client, path, {"email": address, "code": wrong(code), **extra})
                seen.append((response.status_code, response.get_json()["type"]))
        assert answers[EMAIL] == answers["nobody@example.com"]
        assert [status for status, _ in answers[EMAIL]] == [400] * 5 + [429]
    let_time_pass(engine, 61)
    for address in (EMAIL, "nobody@example.com"):
        refused = post(client, "/v1/activations", {"email": address, "code": wrong(code)})
        assert refused.status_code == 429
        assert post(client, "/v1/activations/resend", {"email": address}).status_code == 202
        response = post(client, "/v1/activations", {"email": address, "code": wrong(code)})
        assert response.status_code == 400


def test_unknown_addresses_get_the_same_answers_as_known_ones(
    client: FlaskClient, engine: Engine
) -> None:
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    forget_throttles(engine)
    for path in ("/v1/activations/resend", "/v1/password-resets"):
        for attempt in ("first", "throttled"):
            known = post(client, path, {"email": EMAIL})
            unknown = post(client, path, {"email": "nobody@example.com"})
            assert known.status_code == unknown.status_code == (202 if attempt == "first" else 429)
            assert known.get_json().keys() == unknown.get_json().keys()
            if attempt == "first":
                # Alike but for the delivery's id, a fresh uuid of the same length.
                assert _without_id(known.get_json()) == _without_id(unknown.get_json())
                assert known.headers["Content-Length"] == unknown.headers["Content-Length"]
            assert sorted(dict(known.headers)) == sorted(dict(unknown.headers))
    assert count(engine, "users") == 1


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "delivery": {**answer["delivery"], "id": None}}


def test_account_ids_move_alike_for_known_and_unknown_addresses(
    client: FlaskClient, engine: Engine
) -> None:
    """A client sees user ids (logins answer them): the ids of the accounts it registers before
    and after a resend or reset must be as far apart whether or not the address had an account.
    On PostgreSQL a sequence value, once drawn, stays drawn even when its row is rolled back."""
    post(client, "/v1/registrations", {"email": EMAIL, "password": PASSWORD})
    gaps: dict[tuple[str, str], int] = {}
    for path in ("/v1/activations/resend", "/v1/password-resets"):
        for address in (EMAIL, "nobody@example.com"):
            forget_throttles(engine)
            before = _register_probe(client, engine)
            assert post(client, path, {"email": address}).status_code == 202
            gaps[path, address] = _register_probe(client, engine) - before
    assert set(gaps.values()) == {1}, gaps


def _register_probe(client: FlaskClient, engine: Engine) -> int:
    """Register a fresh address, as a prober would, and return its account's id."""
    address = f"probe-{count(engine, 'users')}@example.com"
    body = {"email": address, "password": PASSWORD}
    assert post(client, "/v1/registrations", body).status_code == 202
    return max(row["id"] for row in rows(engine, "users") if row["email"] == address)


def test_resend_to_an_active_account_sends_no_code_but_the_account_exists_notice(
    client: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    activate(client, relay, smtp)
    forget_throttles(engine)
    before = count(engine, "outbox")
    response = post(client, "/v1/activations/resend", {"email": EMAIL})
    assert response.status_code == 202
    assert count(engine, "outbox") == before + 1
    newest = rows(engine, "outbox")[-1]
    assert (newest["public_id"], newest["purpose"]) == (
        response.get_json()["delivery"]["id"],
        "account_exists",
    )
    assert newest["secret_params"] is None


def test_resend_on_the_other_channel_goes_to_the_number_on_file(
    client: FlaskClient, engine: Engine
) -> None:
    body = {"email": EMAIL, "phone": PHONE, "password": PASSWORD}
    assert post(client, "/v1/registrations", body).status_code == 202
    forget_throttles(engine)
    response = post(client, "/v1/activations/resend", {"email": EMAIL, "channel": "sms"})
    assert response.status_code == 202
    newest = rows(engine, "outbox")[-1]
    assert (newest["channel"], newest["recipient"]) == ("sms", PHONE)


def test_no_code_or_password_in_the_database_or_the_logs_after_the_whole_flow(
    client: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code = register_and_read_code(client, relay, smtp)
    post(client, "/v1/activations", {"email": EMAIL, "code": wrong(code)})
    post(client, "/v1/activations", {"email": EMAIL, "code": code})
    post(client, "/v1/password-resets", {"email": EMAIL})
    relay.drain()
    [reset] = [m for m in smtp.sink.wait_for(3) if m["Subject"] == "Reset your Outpost password"]
    reset_code = code_in(reset)
    confirm = {"email": EMAIL, "code": reset_code, "new_password": NEW_PASSWORD}
    assert post(client, "/v1/password-resets/confirm", confirm).status_code == 200
    relay.drain()
    smtp.sink.wait_for(4)
    secrets = (code, wrong(code), reset_code, PASSWORD, NEW_PASSWORD)
    stored = every_value_as_text(engine)
    # The test's own SMTP server (aiosmtpd, logger "mail.log") logs the mails it receives.
    # Each record as the JSON line the processes write, extra fields included.
    ours = "\n".join(
        JsonFormatter().format(r) for r in caplog.records if not r.name.startswith("mail.log")
    )
    for secret in secrets:
        assert not [value for value in stored if secret in value]
        assert secret not in ours
    assert '"outcome": "sent"' in ours, "the relay's log was not captured: the check proves nothing"


def test_reset_by_phone_goes_and_notifies_by_sms(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    activated(client, engine, settings, {"phone": PHONE})
    assert post(client, "/v1/password-resets", {"phone": PHONE}).status_code == 202
    reset = [r for r in rows(engine, "outbox") if r["purpose"] == "password_reset"]
    assert [(r["channel"], r["recipient"]) for r in reset] == [("sms", PHONE)]
    code = pending_code(engine, settings, "password_reset")
    confirm = {"phone": PHONE, "code": code, "new_password": NEW_PASSWORD}
    assert post(client, "/v1/password-resets/confirm", confirm).status_code == 200
    notice = [r for r in rows(engine, "outbox") if r["purpose"] == "password_changed"]
    assert [(n["channel"], n["recipient"]) for n in notice] == [("sms", PHONE)]
    [token] = [t for t in rows(engine, "verification_tokens") if t["purpose"] == "password_reset"]
    assert token["expires_at"] - token["created_at"] == timedelta(seconds=settings.reset_ttl)


def test_a_code_and_its_message_are_written_together(app: Flask, engine: Engine) -> None:
    """By one statement on PostgreSQL (a data-modifying CTE), by two on SQLite; either way
    the message carries its code's id."""
    statements: list[str] = []
    event.listen(
        app.extensions["outpost"].engine,
        "before_cursor_execute",
        lambda _connection, _cursor, statement, *_: statements.append(statement),
    )
    body = {"email": EMAIL, "password": PASSWORD}
    assert post(app.test_client(), "/v1/registrations", body).status_code == 202
    writes = [s for s in statements if "verification_tokens" in s or "INTO outbox" in s]
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 2)
    [token] = rows(engine, "verification_tokens")
    [message] = rows(engine, "outbox")
    assert message["token_id"] == token["id"]
