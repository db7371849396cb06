"""A database that refuses the API or the relay at start is quoted as the server said it, in the
words `outpost check` prints, never with the password. A refusal that waiting cannot heal (a
role or a database the server does not know, a wrong password) stops `outpost serve` and
`outbox-relay run` with one line and exit 2, which the units never restart; a server that is
merely down is waited for (the relay) or answered 503 (the API), as before. The servers are
real: the suite's PostgreSQL, and a private one that asks for passwords."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from api_service import create_app
from outpost.check import findings
from support import private_postgres, processes
from support.ports import free_port
from support.private_postgres import PrivatePostgres

pytestmark = pytest.mark.postgresql_only

PASSWORD = "s3cret-app-pw"
SERVE = [sys.executable, "-m", "outpost.cli", "serve"]
RELAY = [sys.executable, "-m", "outbox_relay.cli", "run"]


def checked(environ: dict[str, str]) -> str:
    """What `outpost check` says of DATABASE_URL, after naming it."""
    [finding] = [f for f in findings(environ) if f.subject.startswith("DATABASE_URL ")]
    assert finding.problem
    return finding.said


def started(command: list[str], environ: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Run a process as its unit would, until it exits (a bound well past the seconds a start
    takes): its exit code and the lines it wrote."""
    done = subprocess.run(
        command,
        env={
            **environ,
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "OUTPOST_BIND": f"127.0.0.1:{free_port()}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def refused_at_start(environ: dict[str, str], cwd: Path) -> None:
    """Both processes exit 2, each with the one line that quotes the server as `check` does."""
    said = checked(environ)
    for command, prog in ((SERVE, "outpost-api"), (RELAY, "outbox-relay")):
        code, lines = started(command, environ, cwd)
        assert (code, lines) == (2, [f"{prog}: configuration error: DATABASE_URL: {said}"])
    assert PASSWORD not in said


@pytest.mark.parametrize("unknown", ["role", "database"])
def test_a_role_or_a_database_the_server_does_not_know_stops_both_processes(
    env: dict[str, str], tmp_path: Path, unknown: str
) -> None:
    name = f"outpost_{unknown}_{secrets.token_hex(4)}"
    url = make_url(env["DATABASE_URL"])
    url = url.set(username=name, password=PASSWORD) if unknown == "role" else url.set(database=name)
    refused = {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}
    assert checked(refused).endswith(f'failed: FATAL: {unknown} "{name}" does not exist')
    refused_at_start(refused, tmp_path)


def test_a_wrong_password_stops_both_processes(env: dict[str, str], tmp_path: Path) -> None:
    """The suite's server trusts every local connection; a private one asks for passwords."""
    if not private_postgres.available():
        pytest.fail(f"PostgreSQL 15's initdb and pg_ctl are needed in {private_postgres.BIN}")
    with PrivatePostgres() as server:
        with psycopg.connect(server.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"CREATE ROLE outpost_app LOGIN PASSWORD 'not-{PASSWORD}'")
        server.ask_passwords()
        wrong = f"postgresql://outpost_app:{PASSWORD}@127.0.0.1:{server.port}/postgres"
        refused = {**env, "DATABASE_URL": wrong}
        assert checked(refused).endswith(
            'failed: FATAL: password authentication failed for user "outpost_app"'
        )
        refused_at_start(refused, tmp_path)


@pytest.fixture
def down(env: dict[str, str]) -> dict[str, str]:
    """The test environment, its DATABASE_URL a port nobody listens on."""
    url = make_url(env["DATABASE_URL"]).set(host="127.0.0.1", port=free_port(), password=PASSWORD)
    return {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}


def test_the_relay_waits_for_a_database_that_is_down_quoting_it_as_check_does(
    down: dict[str, str], tmp_path: Path
) -> None:
    said = checked(down)
    assert said.endswith("failed: Connection refused")
    log = tmp_path / "relay.log"
    relay = processes.relay(down, tmp_path)
    try:
        processes.eventually(
            lambda: (
                sum(e["message"] == "database unavailable" for e in processes.json_lines(log)) > 1
            ),
            timeout=30,
            what="the relay says why it waits, more than once",
        )
        assert relay.poll() is None
    finally:
        assert processes.stop(relay) == 0
    [waiting, *_] = [e for e in processes.json_lines(log) if e["message"] == "database unavailable"]
    assert waiting["error"] == said
    assert PASSWORD not in log.read_text()


def test_the_api_logs_it_at_start_and_at_each_readiness_probe(
    down: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    said = checked(down)
    with caplog.at_level(logging.WARNING):
        app = create_app(down)
        try:
            assert app.test_client().get("/readyz").status_code == 503
        finally:
            app.extensions["outpost"].engine.dispose()
    errors = {r.getMessage(): getattr(r, "error", None) for r in caplog.records}
    assert errors["keys not checked, database unavailable"] == said
    assert errors["not ready, database unavailable"] == said
    assert PASSWORD not in caplog.text
