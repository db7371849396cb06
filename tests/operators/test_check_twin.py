"""`outpost check` passes only where `outpost serve` and `outbox-relay run` start: whatever
either refuses at start (a variable it cannot read, a SECRET_KEY the database's keyring does not
take) is a problem naming the variable, exit 1; what a feature needs and lacks is a warning
naming what it costs. Against the real databases, and `outpost serve` itself for the keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from shared.clock import utcnow
from shared.database import keyring
from shared.database.models import keyring as keyring_table
from support.checks import outpost_check
from support.ports import free_port

ANOTHER_KEY = "another-key-of-32-characters-or-more"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("RELAY_BATCH_SIZE", "lots", "RELAY_BATCH_SIZE: invalid literal for int() "),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: must be one of DEBUG, "),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY: must be positive"),
        ("OUTPOST_BIND", "127.0.0.1:80000", "OUTPOST_BIND: HOST:PORT or [IPv6]:PORT"),
        ("SECRET_KEY", "short", "SECRET_KEY: required, at least 16 characters"),
    ],
)
def test_what_serve_or_the_relay_refuses_at_start_fails_the_check_naming_it(
    base: dict[str, str], database_url: str, tmp_path: Path, variable: str, value: str, said: str
) -> None:
    """The variables of tests/operators/test_serve.py's refusals, each exit 2 there."""
    done = outpost_check({**base, "DATABASE_URL": database_url, variable: value}, tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"outpost check: configuration: {said}")


def test_a_key_the_keyring_refuses_fails_the_check_as_it_stops_serve(
    base: dict[str, str], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A restore with another env file, a typo in the key: the API and the relay refuse it."""
    with engine.begin() as connection:
        keyring.admit(connection, [ANOTHER_KEY], utcnow(), seals=True)
    environ = {**base, "DATABASE_URL": database_url}
    done = outpost_check(environ, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"outpost check: SECRET_KEY: {keyring.KeysMismatch.said}",
    ]
    served = subprocess.run(
        [sys.executable, "-m", "outpost.cli", "serve"],
        env={**environ, "PATH": "/usr/bin:/bin", "OUTPOST_BIND": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert (served.returncode, served.stderr.splitlines()) == (
        2,
        [f"outpost-api: configuration error: SECRET_KEY: {keyring.KeysMismatch.said}"],
    )
    fallback = outpost_check({**environ, "SECRET_KEY_FALLBACKS": ANOTHER_KEY}, tmp_path)
    assert (fallback.returncode, fallback.stderr) == (0, "")


def test_the_check_of_the_keys_writes_nothing(
    base: dict[str, str], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Nothing recorded yet (a new database): any key is taken, and the first API records it."""
    done = outpost_check({**base, "DATABASE_URL": database_url}, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(keyring_table)).scalar() == 0


def test_a_feature_lacking_what_it_needs_is_a_warning_naming_its_cost(
    base: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    environ = {**base, "DATABASE_URL": database_url}
    del environ["PUBLIC_URL"]
    environ |= {
        "SMS_URL": "twilio://AC0123:token@api.twilio.com?from=%2B15005550006",
        "SMS_ALLOWED_REGIONS": "FR",
    }
    done = outpost_check(environ, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert (
        'outpost check: PUBLIC_URL: warning: unset, so "no account" mails are withheld (a '
        "stranger gets none without an unsubscribe link); no delivery receipts are asked of "
        "twilio"
    ) in done.stdout.splitlines()
