"""Suppressions for operators: the CLI, the admin API and the dashboard list and remove them
(audited), a retry is refused while the address is suppressed, stranded accounts say so."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.suppressions import Suppressor
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.rows import rows
from support.smtp_sink import SinkServer
from tests.test_dashboard import signed_in
from tests.test_operator_cli import cli

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery staple"


def refused_as_unknown(client: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> str:
    """Register `email`, whose activation the SMTP server refuses as unknown (5.1.1)."""
    smtp.sink.mode = "reply:550 5.1.1"
    answer = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    delivery_id: str = answer.get_json()["delivery"]["id"]
    relay.drain()
    smtp.sink.mode = "accept"
    return delivery_id


def test_the_admin_api_lists_and_removes_and_a_retry_waits_for_the_removal(
    admin: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = refused_as_unknown(admin, relay, smtp, "gone@example.com")
    listed = admin.get("/v1/admin/suppressions", headers=BEARER).get_json()["items"]
    assert [(e["address"], e["reason"], e["source"]) for e in listed] == [
        ("gone@example.com", "rejected", "smtp")
    ]
    retry = admin.post(f"/v1/admin/dead-letters/{delivery_id}/retry", headers=BEARER)
    assert retry.get_json()["outcome"] == "suppressed"
    stranded = admin.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    assert [s["why"] for s in stranded] == ["address suppressed (rejected)"]

    removal = admin.post(
        "/v1/admin/suppressions/remove",
        json={"addresses": ["GONE@example.com", "never@example.com"]},
        headers={**BEARER, "X-Operator": "ops:ada"},
    )
    assert removal.get_json() == {"removed": ["gone@example.com"]}
    assert admin.get("/v1/admin/suppressions", headers=BEARER).get_json()["items"] == []
    [audit] = [a for a in rows(engine, "operator_actions") if a["action"] == "remove_suppressions"]
    assert audit["actor"].startswith("ops:ada")
    assert "gone@example.com" not in json.dumps(audit["details"])
    retry = admin.post(f"/v1/admin/dead-letters/{delivery_id}/retry", headers=BEARER)
    assert retry.get_json()["outcome"] == "fresh_code"
    relay.drain()
    assert [str(m["To"]) for m in smtp.sink.received] == ["gone@example.com"]


def test_the_cli_lists_and_removes(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        Suppressor(SECRET_KEY).add(
            connection, "bounced@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
    listed = cli(env, tmp_path, "suppressions", "list")
    assert listed.returncode == 0
    assert "bounced@example.com" in listed.stdout and "hard_bounce" in listed.stdout
    as_json = json.loads(cli(env, tmp_path, "suppressions", "list", "--json").stdout)
    assert [e["address"] for e in as_json] == ["bounced@example.com"]
    removed = cli(env, tmp_path, "suppressions", "remove", "bounced@example.com", "x@example.com")
    assert removed.returncode == 1
    assert "bounced@example.com  removed" in removed.stdout
    assert "x@example.com  not suppressed" in removed.stdout
    assert "no suppressed addresses" in cli(env, tmp_path, "suppressions", "list").stdout


def test_the_dashboard_shows_and_removes_a_suppression(admin: FlaskClient, engine: Engine) -> None:
    with engine.begin() as connection:
        Suppressor(SECRET_KEY).add(
            connection, "complained@example.com", reason="complaint", source="ses", now=utcnow()
        )
    token = signed_in(admin)
    page = admin.get("/admin/suppressions").get_data(as_text=True)
    assert "complained@example.com" in page and "complaint" in page
    done = admin.post(
        "/admin/suppressions/remove",
        data={"csrf_token": token, "address": "complained@example.com"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303
    after = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "is no longer suppressed" in after
    assert rows(engine, "suppressions") == []
