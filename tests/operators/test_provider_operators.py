"""Providers in operators' hands from the command line and the dashboard: `outbox-relay
providers [list]|pause|resume` and the dashboard's Pause and Resume buttons reach the one
operation the admin API uses, each action audited, and a relay obeys within a poll."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from support.commands import OS_USER, as_json, here, ok
from support.constants import ADMIN_TOKEN
from support.dashboard import signed_in
from support.relays import keep_draining
from support.rows import rows

REASON = "provider incident INC-42"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment with the dashboard on."""
    return {**env, "ADMIN_TOKEN": ADMIN_TOKEN}


def _audited(engine: Engine) -> list[tuple[str, str, str]]:
    return [(r["actor"], r["action"], r["target"]) for r in rows(engine, "operator_actions")]


def test_the_cli_pauses_lists_and_resumes_a_provider(
    env: dict[str, str], tmp_path: Path, engine: Engine, relay: Relay
) -> None:
    run = ok(here(env, tmp_path, "providers", "pause", "smtp", "--for", "2h", "--reason", REASON))
    assert run.stdout.startswith("provider smtp paused until ")
    listed = {p["name"]: p for p in as_json(here(env, tmp_path, "providers", "--json"))}
    assert (listed["smtp"]["state"], listed["smtp"]["reason"]) == ("paused_by_operator", REASON)
    assert listed["smtp"]["paused_by"] == f"cli:{OS_USER}" and listed["smtp"]["until"]
    assert listed["sms"]["state"] == "up"
    table = ok(here(env, tmp_path, "providers", "list")).stdout
    assert "paused_by_operator" in table and REASON in table
    keep_draining(relay, 0.5)
    assert "email" in relay.providers.paused_channels()

    assert (
        ok(here(env, tmp_path, "providers", "resume", "smtp")).stdout == "provider smtp resumed\n"
    )
    keep_draining(relay, 0.5)
    assert "email" not in relay.providers.paused_channels()
    again = here(env, tmp_path, "providers", "resume", "smtp")
    assert again.returncode == 1 and "not paused by an operator" in again.stdout
    unknown = here(env, tmp_path, "providers", "pause", "nowhere", "--reason", REASON)
    assert unknown.returncode == 1
    bad = here(env, tmp_path, "providers", "pause", "smtp", "--for", "soon", "--reason", REASON)
    assert bad.returncode == 2
    actor = f"cli:{OS_USER}"
    assert _audited(engine) == [
        (actor, "provider_pause", "smtp"),
        (actor, "provider_resume", "smtp"),
    ]


def test_the_dashboard_buttons_pause_and_resume_a_provider(
    client: FlaskClient, engine: Engine
) -> None:
    token = signed_in(client)
    page = client.get("/admin/providers").get_data(as_text=True)
    assert 'id="provider-smtp"' in page and "Pause" in page
    form = {"csrf_token": token, "reason": REASON, "minutes": "60"}
    done = client.post("/admin/providers/smtp/pause", data=form)
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Provider smtp paused" in page and REASON in page and "Resume smtp" in page
    refused = client.post("/admin/providers/smtp/pause", data={**form, "reason": " "})
    assert "notice=provider:invalid" in refused.headers["Location"]
    done = client.post("/admin/providers/smtp/resume", data={"csrf_token": token})
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Provider smtp resumed" in page
    [paused, resumed] = _audited(engine)
    assert (paused[1], resumed[1]) == ("provider_pause", "provider_resume")
    assert paused[0].startswith("dashboard@")
    assert client.post("/admin/providers/smtp/resume", data={}).status_code == 403
