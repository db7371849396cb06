"""Rotating SECRET_KEY: older keys in SECRET_KEY_FALLBACKS open and verify what they made, and
a relay whose keys cannot open what the API seals stops at start, claiming nothing."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from api_service import create_app
from shared.clock import utcnow
from shared.database import keyring
from shared.database.models import outbox
from shared.messaging.suppressions import Suppressor
from shared.secrets.codes import code_matches
from shared.secrets.secretbox import SealedUnderOtherKey, SecretBox
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY, MakeRelay
from support.ports import free_port
from support.rows import forget_throttles, rows
from support.smtp_sink import SinkServer, code_in

OLD = SECRET_KEY
NEW = "the-new-secret-key-9876543210fedcba"
PASSWORD = "correct horse battery staple"


@contextmanager
def api(env: dict[str, str], key: str, fallbacks: str = "") -> Iterator[FlaskClient]:
    """The API holding `key`, with `fallbacks` (comma-separated) in SECRET_KEY_FALLBACKS."""
    app = create_app({**env, "SECRET_KEY": key, "SECRET_KEY_FALLBACKS": fallbacks})
    try:
        yield app.test_client()
    finally:
        app.extensions["outpost"].engine.dispose()


@contextmanager
def relay_process(env: dict[str, str], cwd: Path, key: str, fallbacks: str = "") -> Iterator[None]:
    """`outbox-relay run` holding `key` and `fallbacks`; stopped (exit 0) after the block."""
    process = processes.relay({**env, "SECRET_KEY": key, "SECRET_KEY_FALLBACKS": fallbacks}, cwd)
    try:
        yield
    finally:
        assert processes.stop(process) == 0, (cwd / "relay.log").read_text()


def register(client: FlaskClient, email: str) -> None:
    answer = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 202


def activate(client: FlaskClient, email: str, code: str) -> int:
    return client.post("/v1/activations", json={"email": email, "code": code}).status_code


def mail_to(smtp: SinkServer, email: str, count: int) -> EmailMessage:
    """The first mail to `email`, once the sink holds `count` mails."""
    return next(m for m in smtp.sink.wait_for(count, timeout=20) if str(m["To"]) == email)


def outcome(engine: Engine, email: str) -> list[tuple[str, str | None]]:
    return [
        (r["status"], r["dead_reason"]) for r in rows(engine, "outbox") if r["recipient"] == email
    ]


def test_a_rotation_loses_no_pending_message_live_code_or_suppression(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    tmp_path: Path,
) -> None:
    # Under the old key: bob holds a live code, ada's is still queued, carol is suppressed and
    # erased (her entry keeps only the hash).
    register(client, "bob@example.com")
    assert make_relay().drain() == 1
    bobs_code = code_in(mail_to(smtp, "bob@example.com", 1))
    register(client, "ada@example.com")
    with engine.begin() as connection:
        suppressor = Suppressor.of(connection, (OLD,))
        suppressor.add(
            connection, "carol@example.com", reason="complaint", source="ses", now=utcnow()
        )
        suppressor.forget_address(connection, "carol@example.com")

    # The relay first, then the API: each holds the new key, the old one as a fallback.
    with relay_process(env, tmp_path, NEW, OLD):
        adas_code = code_in(mail_to(smtp, "ada@example.com", 2))
        with api(env, NEW, OLD) as rotated:
            assert activate(rotated, "bob@example.com", bobs_code) == 200
            assert activate(rotated, "ada@example.com", adas_code) == 200
            register(rotated, "dave@example.com")
            register(rotated, "carol@example.com")
            daves_code = code_in(mail_to(smtp, "dave@example.com", 5))
        processes.eventually(
            lambda: outcome(engine, "carol@example.com") == [("dead", "suppressed")]
        )
    # What is new is made under the new key alone.
    [dave] = [u for u in rows(engine, "users") if u["email"] == "dave@example.com"]
    [token] = [t for t in rows(engine, "verification_tokens") if t["user_id"] == dave["id"]]
    assert code_matches([NEW], dave["id"], "activation", daves_code, token["code_hmac"])
    assert not code_matches([OLD], dave["id"], "activation", daves_code, token["code_hmac"])

    # Past the horizon the old key goes: nothing made under it is needed any more.
    with pytest.raises(keyring.KeysMismatch), engine.begin() as connection:
        keyring.admit(connection, [OLD], utcnow(), seals=False)
    with relay_process(env, tmp_path, NEW), api(env, NEW) as current:
        assert activate(current, "dave@example.com", daves_code) == 200
        register(current, "erin@example.com")
        assert (
            activate(current, "erin@example.com", code_in(mail_to(smtp, "erin@example.com", 7)))
            == 200
        )
        forget_throttles(engine)
        register(current, "carol@example.com")  # to her pending account: suppressed
        processes.eventually(
            lambda: outcome(engine, "carol@example.com") == [("dead", "suppressed")] * 2
        )
    with engine.connect() as connection:
        assert Suppressor.of(connection, (NEW,)).among(connection, ["carol@example.com"])


def test_a_relay_whose_keys_cannot_open_what_the_api_seals_stops_at_start_in_one_line(
    env: dict[str, str], client: FlaskClient, engine: Engine, tmp_path: Path
) -> None:
    register(client, "ada@example.com")
    relay = processes.relay({**env, "SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": NEW[::-1]}, tmp_path)
    assert relay.wait(30) == 2
    [line] = (tmp_path / "relay.log").read_text().splitlines()
    assert line.startswith("outbox-relay: configuration error: SECRET_KEY: neither it nor")
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"], row["claim_token"]) == ("pending", 0, None)
    assert rows(engine, "outbox_attempts") == []


def test_the_api_refuses_keys_that_cannot_open_what_it_sealed(
    env: dict[str, str], client: FlaskClient, tmp_path: Path
) -> None:
    register(client, "ada@example.com")
    with pytest.raises(keyring.KeysMismatch, match=r"^SECRET_KEY: "):
        create_app({**env, "SECRET_KEY": NEW})
    api = processes.gunicorn({**env, "SECRET_KEY": NEW}, free_port(), tmp_path)
    assert api.wait(30) == 2
    [line] = (tmp_path / "gunicorn.log").read_text().splitlines()
    assert line.startswith("outpost-api: configuration error: SECRET_KEY: neither it nor")


def test_a_running_relay_hands_back_a_row_it_cannot_open_never_killing_it(
    client: FlaskClient,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its keys were checked at start; the API rotated since to a key it lacks."""
    register(client, "ada@example.com")
    with caplog.at_level(logging.INFO):
        assert make_relay(secret_key=NEW, secret_key_fallbacks=()).drain() == 1
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"], row["claim_token"]) == ("pending", 0, None)
    assert row["next_attempt_at"] > utcnow() + timedelta(seconds=50)
    [said] = [r for r in caplog.records if "does not hold" in r.getMessage()]
    assert said.exc_info is None
    assert not [r for r in caplog.records if r.exc_info]
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    assert make_relay(secret_key=NEW, secret_key_fallbacks=(OLD,)).drain() == 1
    assert outcome(engine, "ada@example.com") == [("sent", None)]
    smtp.sink.wait_for(1)


def test_secrets_seal_under_the_first_key_and_open_under_any() -> None:
    sealed = SecretBox(OLD).seal({"code": "123456"})
    assert SecretBox(NEW, OLD).open(sealed) == {"code": "123456"}
    with pytest.raises(SealedUnderOtherKey):
        SecretBox(OLD).open(SecretBox(NEW, OLD).seal({"code": "123456"}))


def test_fallbacks_are_held_to_the_rule_of_secret_key(tmp_path: Path) -> None:
    env = {"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": f"{OLD}, short"}
    with pytest.raises(ConfigError, match=r"^SECRET_KEY_FALLBACKS: key 2 of 2: at least 16"):
        Settings.from_env(env)
    assert Settings.from_env(
        {**env, "SECRET_KEY_FALLBACKS": f"{OLD}, {NEW[::-1]}"}
    ).secret_keys == (
        NEW,
        OLD,
        NEW[::-1],
    )
    run = subprocess.run(
        [sys.executable, "-m", "outbox_relay.cli", "run"],
        env={
            **env,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'outpost.db'}",
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    [line] = run.stderr.splitlines()
    assert line.startswith("outbox-relay: configuration error: SECRET_KEY_FALLBACKS: key 2 of 2")
