"""`outbox-relay invite ADDRESS`: with sign-up closed, an operator's invitation makes a pending
account whose activation code, sent by a real relay, activates it (SPEC "The application's say
over sign-ups"); an address an account holds gets nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from support.commands import OS_USER, here, ok
from support.rows import count, rows
from support.smtp_sink import SinkServer, code_in

ADA = "ada@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment (the API's, the relay's and the command's) with sign-up closed."""
    return {**env, "SIGNUP": "closed"}


def test_invite_sends_a_code_that_activates_and_is_audited(
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    closed = client.post("/v1/registrations", json={"email": ADA, "password": PASSWORD})
    assert closed.status_code == 403

    invited = ok(here(env, tmp_path, "invite", " Ada@Example.com "))

    [user] = rows(engine, "users")
    [row] = rows(engine, "outbox")
    assert invited.stdout == (
        f"account {user['id']} invited: activation code queued, delivery {row['public_id']}\n"
    )
    [action] = rows(engine, "operator_actions")
    assert (action["actor"], action["action"], action["target"]) == (
        f"cli:{OS_USER}",
        "invite",
        str(user["id"]),
    )
    assert relay.drain() == 1
    code = code_in(smtp.sink.wait_for(1)[0])
    activation = {"email": ADA, "code": code, "password": PASSWORD}
    answer = client.post("/v1/activations", json=activation)
    assert (answer.status_code, answer.get_json()) == (200, {"status": "active"})
    assert client.post("/v1/logins", json={"email": ADA, "password": PASSWORD}).status_code == 200


def test_invite_of_a_held_address_exits_1_and_sends_nothing(
    engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    ok(here(env, tmp_path, "invite", ADA))
    [user] = rows(engine, "users")

    again = here(env, tmp_path, "invite", ADA)

    assert again.returncode == 1
    assert again.stdout == f"account {user['id']} holds {ADA}; nothing made or sent\n"
    assert (count(engine, "users"), count(engine, "outbox")) == (1, 1)


def test_invite_refuses_what_is_no_address_and_a_number_without_sms(
    engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    wrong = here(env, tmp_path, "invite", "ada at example")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("outbox-relay: invite: Must be an email address or an E.164")
    no_sms = here({**env, "SMS_URL": ""}, tmp_path, "invite", "+33612345678")
    assert no_sms.returncode == 1
    assert no_sms.stdout == "+33612345678: SMS is not offered by this service; nothing made\n"
    assert count(engine, "users") == 0
