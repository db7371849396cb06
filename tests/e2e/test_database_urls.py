"""DATABASE_URL names a primary with standbys in libpq's forms: the engines and the relay's LISTEN
reach whichever server takes writes; a form that cannot work stops each process at start."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from api_service import create_app
from outbox_relay.listener import Listener
from outbox_relay.wake import Wake
from shared.database.db import create_engine_for
from shared.messaging.outbox import NOTIFY_CHANNEL
from shared.settings.config import Settings
from shared.settings.database_url import connect_arguments, masked, normalise_database_url
from shared.settings.joint_rules import ConfigError
from support.constants import SECRET_KEY
from support.ports import free_port
from support.replication import PostgresPair

PASSWORD = "s3cret-pw"
# The standby first: only target_session_attrs=read-write takes the engines to the primary.
FORMS = {
    "host-and-port-lists": "postgresql://postgres:{pw}@/{db}?host=127.0.0.1,127.0.0.1"
    "&port={standby},{primary}&target_session_attrs=read-write",
    "repeated-host": "postgresql://postgres:{pw}@/{db}?host=127.0.0.1:{standby}"
    "&host=127.0.0.1:{primary}&target_session_attrs=read-write",
    "libpq-host-part": "postgresql://postgres:{pw}@127.0.0.1:{standby},127.0.0.1:{primary}/{db}"
    "?target_session_attrs=read-write",
}
REFUSED = {
    "2 ports for 3 hosts": "postgresql://u:{pw}@/db?host=a,b,c&port=1,2",
    "target_session_attrs must be one of": "postgresql://u:{pw}@/db?target_session_attrs=rw",
    'invalid connection option "tagret_session_attrs"': "postgresql://u:{pw}@h/db?tagret_session_attrs=any",
    "hosts are named both": "postgresql://u:{pw}@h1:1,h2:2/db?host=h3",
    "ports are given both": "postgresql://u:{pw}@/db?host=h1:1&host=h2:2&port=3",
    "not a port: 'x'": "postgresql://u:{pw}@h1:x,h2/db",
}


def form(name: str, database: str = "db", primary: int = 5432, standby: int = 5433) -> str:
    return FORMS[name].format(pw=PASSWORD, db=database, primary=primary, standby=standby)


def test_the_three_forms_connect_alike() -> None:
    arguments = [connect_arguments(normalise_database_url(form(name))) for name in FORMS]
    assert arguments[0] == arguments[1] == arguments[2]
    assert (arguments[0]["host"], arguments[0]["port"]) == ("127.0.0.1,127.0.0.1", "5433,5432")
    assert arguments[0]["target_session_attrs"] == "read-write"
    assert arguments[0]["password"] == PASSWORD


def test_libpq_host_lists_are_rewritten_as_sqlalchemy_reads_them() -> None:
    assert normalise_database_url(form("libpq-host-part")) == (
        f"postgresql+psycopg://postgres:{PASSWORD}@/db?host=127.0.0.1,127.0.0.1&port=5433,5432"
        "&target_session_attrs=read-write"
    )


@pytest.mark.parametrize("reason", REFUSED)
def test_a_form_that_cannot_work_is_one_line_naming_database_url(reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(
            {"SECRET_KEY": SECRET_KEY, "DATABASE_URL": REFUSED[reason].format(pw=PASSWORD)}
        )
    [line] = str(refused.value).splitlines()
    assert line.startswith("DATABASE_URL: ") and reason in line
    assert PASSWORD not in line


def test_relay_listen_url_is_checked_alike() -> None:
    bad = REFUSED["2 ports for 3 hosts"].format(pw=PASSWORD)
    with pytest.raises(ConfigError, match=r"^RELAY_LISTEN_URL: 2 ports for 3 hosts"):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "RELAY_LISTEN_URL": bad})


def test_passwords_are_masked_in_what_a_driver_says() -> None:
    said = f"at postgresql://u:{PASSWORD}@h:5/db, host=h password={PASSWORD} port=5"
    assert masked(said) == "at postgresql://u:***@h:5/db, host=h password=*** port=5"
    assert masked("postgresql://h:5432/db") == "postgresql://h:5432/db"


# The three commands production runs (each never falls back to a file in its directory).
EACH_PROCESS = pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "outbox_relay.cli", "run"],
        [sys.executable, "-m", "outpost.cli", "migrate"],
        [sys.executable, "-m", "outpost.cli", "serve"],
    ],
    ids=["relay", "migrate", "api"],
)


@EACH_PROCESS
def test_each_process_stops_at_start_on_a_form_that_cannot_work(
    command: list[str], tmp_path: Path
) -> None:
    bad = REFUSED["2 ports for 3 hosts"].format(pw=PASSWORD)
    result = subprocess.run(
        command,
        env={"DATABASE_URL": bad, "SECRET_KEY": SECRET_KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if "DATABASE_URL" in line]
    assert line.endswith(
        "configuration error: DATABASE_URL: 2 ports for 3 hosts: give one port, or one per host"
    )
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr


@EACH_PROCESS
@pytest.mark.parametrize("unset", [{}, {"DATABASE_URL": ""}], ids=["unset", "empty"])
def test_each_process_stops_at_start_without_database_url(
    command: list[str], unset: dict[str, str], tmp_path: Path
) -> None:
    """`outpost up` alone falls back to var/outpost.db: production never makes a database in
    whatever directory it was started from."""
    result = subprocess.run(
        command,
        env={**unset, "SECRET_KEY": SECRET_KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.endswith(
        ": configuration error: DATABASE_URL: required, e.g. postgresql://"
        "outpost_app@127.0.0.1:5432/outpost or sqlite:////var/lib/outpost/outpost.db (only "
        "`outpost up` defaults to a file)"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_api_logs_the_drivers_message_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = form("host-and-port-lists", "outpost", free_port(), free_port())
    client = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}).test_client()
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    with caplog.at_level(logging.WARNING):
        assert client.post("/v1/registrations", json=body).status_code == 503
    [record] = [r for r in caplog.records if r.getMessage() == "database unavailable"]
    assert "Connection refused" in record.error  # type: ignore[attr-defined]
    assert PASSWORD not in caplog.text


@pytest.mark.postgresql_only
@pytest.mark.parametrize("name", FORMS)
def test_the_engine_and_the_listen_reach_the_primary_listed_second(
    name: str, pair: PostgresPair
) -> None:
    url = normalise_database_url(
        form(name, pair.create_database(), pair.primary.port, pair.standby.port)
    )
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT pg_is_in_recovery()")) is False
        wake, stopping = Wake(), threading.Event()
        listener = Listener(url, wake.set, stopping, poll_interval=1.0)
        listener.start()
        try:
            assert wake.wait(10) and listener.listening, "the listener never connected"
            with engine.begin() as connection:
                connection.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            assert wake.wait(10, also=listener.fileno()), "a NOTIFY on the primary never came"
            listener.drain()
            assert listener.listening
        finally:
            stopping.set()
            listener.close()
            wake.close()
    finally:
        engine.dispose()
