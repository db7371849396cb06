"""A database that refuses the API or the relay at start is quoted in their logs as the server
said it, in the words `outpost check` prints, never with the password: here a role that does
not exist, on the suite's PostgreSQL."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from sqlalchemy import make_url

from api_service import create_app
from outpost.check import findings
from support import processes

pytestmark = pytest.mark.postgresql_only

PASSWORD = "s3cret-app-pw"


@pytest.fixture
def refused(env: dict[str, str], database_url: str) -> dict[str, str]:
    """The test environment, its DATABASE_URL naming a role the server does not know."""
    role = f"outpost_app_{secrets.token_hex(4)}"
    url = make_url(database_url).set(username=role, password=PASSWORD)
    return {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}


def checked(environ: dict[str, str]) -> str:
    """What `outpost check` says of DATABASE_URL, after naming it."""
    [finding] = [f for f in findings(environ) if f.subject.startswith("DATABASE_URL ")]
    assert finding.problem
    return finding.said


def test_the_relay_logs_the_refusal_as_outpost_check_quotes_it(
    refused: dict[str, str], tmp_path: Path
) -> None:
    said = checked(refused)
    assert said.endswith(
        f'failed: FATAL: role "{make_url(refused["DATABASE_URL"]).username}" does not exist'
    )
    log = tmp_path / "relay.log"
    relay = processes.relay(refused, tmp_path)
    try:
        processes.eventually(
            lambda: any(e["message"] == "database unavailable" for e in processes.json_lines(log)),
            timeout=30,
            what="the relay says why it waits",
        )
    finally:
        assert processes.stop(relay) == 0
    [waiting, *_] = [e for e in processes.json_lines(log) if e["message"] == "database unavailable"]
    assert waiting["error"] == said
    assert PASSWORD not in log.read_text()


def test_the_api_logs_it_at_start_and_at_each_readiness_probe(
    refused: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    said = checked(refused)
    with caplog.at_level(logging.WARNING):
        app = create_app(refused)
        try:
            assert app.test_client().get("/readyz").status_code == 503
        finally:
            app.extensions["outpost"].engine.dispose()
    errors = {r.getMessage(): getattr(r, "error", None) for r in caplog.records}
    assert errors["keys not checked, database unavailable"] == said
    assert errors["not ready, database unavailable"] == said
    assert PASSWORD not in caplog.text
