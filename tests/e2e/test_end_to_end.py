"""Real processes: gunicorn and the relay against a real SMTP server, and `outpost up`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.secrets.codes import code_matches
from support import processes
from support.constants import SECRET_KEY
from support.ports import free_port
from support.rows import rows
from support.smtp_sink import SinkServer, code_in


def test_the_life_of_an_account_through_gunicorn_and_the_relay(
    env: dict[str, str], smtp: SinkServer, engine: Engine, tmp_path: Path
) -> None:
    email, password, new_password = (
        "grace@example.com",
        "correct horse battery staple",
        "n3w pass phrase",
    )
    with processes.api_and_relay(env, tmp_path) as api:
        status, body, _ = processes.post_json(
            f"{api}/v1/registrations", {"email": email, "password": password}
        )
        assert (status, body["status"]) == (202, "pending_activation")
        [mail] = smtp.sink.wait_for(1, timeout=15)
        code = code_in(mail)
        [user] = rows(engine, "users")
        [token] = rows(engine, "verification_tokens")
        assert code_matches([SECRET_KEY], user["id"], "activation", code, token["code_hmac"])
        assert not code_matches(
            [SECRET_KEY], user["id"], "activation", "000000", token["code_hmac"]
        )
        processes.eventually(lambda: rows(engine, "outbox")[0]["status"] == "sent", what="sent")

        status, _, _ = processes.post_json(f"{api}/v1/activations", {"email": email, "code": code})
        assert status == 200
        assert smtp.sink.wait_for(2, timeout=15)[-1]["Subject"] == "Welcome to Outpost"

        status, _, _ = processes.post_json(f"{api}/v1/password-resets", {"email": email})
        assert status == 202
        reset_code = code_in(smtp.sink.wait_for(3, timeout=15)[-1])
        confirm = {"email": email, "code": reset_code, "new_password": new_password}
        status, _, _ = processes.post_json(f"{api}/v1/password-resets/confirm", confirm)
        assert status == 200
        notice = smtp.sink.wait_for(4, timeout=15)[-1]
        assert notice["Subject"] == "Your Outpost password was changed"
    logs = (tmp_path / "relay.log").read_text() + (tmp_path / "gunicorn.log").read_text()
    deliveries = [e for e in processes.json_lines(tmp_path / "relay.log") if "outcome" in e]
    assert [(e["purpose"], e["outcome"]) for e in deliveries] == [
        ("activation", "sent"),
        ("welcome", "sent"),
        ("password_reset", "sent"),
        ("password_changed", "sent"),
    ]
    for secret in (code, reset_code, password, new_password):
        assert secret not in logs


def test_registration_answers_at_once_while_smtp_takes_30_seconds(
    env: dict[str, str], smtp: SinkServer, engine: Engine, tmp_path: Path
) -> None:
    smtp.sink.delay = 30
    env = {**env, "SMTP_URL": smtp.url(timeout=40)}
    # The relay is mid-send for 30 s when the test ends: kill it rather than wait.
    with processes.api_and_relay(env, tmp_path, stop_relay=signal.SIGKILL) as api:
        answers = []
        for n in range(5):
            status, _, seconds = processes.post_json(
                f"{api}/v1/registrations",
                {"email": f"user{n}@example.com", "password": "correct horse battery staple"},
            )
            assert status == 202
            answers.append(seconds)
            time.sleep(0.3)
        assert smtp.sink.data_commands, "the relay is talking to the slow server meanwhile"
        assert max(answers) < 2, answers


def test_outpost_up_serves_and_catches_mail_then_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    up = processes.start(
        [
            sys.executable,
            "-m",
            "outpost.cli",
            "up",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
        ],
        {"DATABASE_URL": "", "SECRET_KEY": "", "SMTP_URL": "", "RELAY_METRICS_PORT": "0"},
        tmp_path,
        tmp_path / "up.log",
    )
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", up)
        status, _, _ = processes.post_json(
            f"http://127.0.0.1:{port}/v1/registrations",
            {"email": "linus@example.com", "password": "correct horse battery staple"},
        )
        assert status == 202
        mail_dir = tmp_path / "var" / "mail"
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not list(mail_dir.glob("*.eml")):
            time.sleep(0.05)
        [saved] = list(mail_dir.glob("*.eml"))
        mail = message_from_bytes(saved.read_bytes(), policy=policy.default)
        assert mail["To"] == "linus@example.com"
        assert (tmp_path / "var" / "outpost.db").exists()
    finally:
        code = processes.stop(up, signal.SIGINT)
    assert code == 0
    log = (tmp_path / "up.log").read_text()
    assert "mail to linus@example.com" in log
    assert "outpost: stopped" in log
    # Not a terminal: where the generated admin token is kept, never the token itself.
    assert f"operators' dashboard: http://127.0.0.1:{port}/admin/sign-in, with the token" in log
    assert (tmp_path / "var" / "admin_token").read_text().strip() not in log
    assert "SMS written to the log (SMS_URL=log:)" in log


def test_a_bad_variable_stops_each_process_with_one_line_naming_it(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'outpost.db'}"
    bad = {"DATABASE_URL": database, "SECRET_KEY": SECRET_KEY, "RELAY_BATCH_SIZE": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "outbox_relay.cli", "run"],
        env={**bad, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "outbox-relay: configuration error: RELAY_BATCH_SIZE: invalid literal for int() "
        "with base 10: 'lots'"
    ]
    result = subprocess.run(
        [sys.executable, "-m", "outpost.cli", "serve"],
        env={
            "DATABASE_URL": database,
            "SMTP_URL": "ftp://nope",
            "SECRET_KEY": SECRET_KEY,
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "SMTP_URL: scheme must be smtp or smtps" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("variable", ["SECRET_KEY"])
def test_the_relay_refuses_to_start_without_a_secret_key(variable: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "outbox_relay.cli", "run"],
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'outpost.db'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"outbox-relay: configuration error: {variable}:")
