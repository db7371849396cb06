"""Webhook endpoints from `outbox-relay webhook-endpoints` and from the dashboard: the same
operation as the admin API, each change audited, the secret shown once and stored nowhere in
the clear."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from support.commands import as_json, here, ok
from support.dashboard import signed_in
from support.rows import rows

URL = "https://crm.example.com/hooks?token=s3cr3t"


def test_the_cli_adds_lists_and_removes_an_endpoint_audited(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    added = as_json(
        here(
            env,
            tmp_path,
            "webhook-endpoints",
            "add",
            URL,
            "--event",
            "account.activated",
            "--event",
            "delivery.sent",
            "--json",
        )
    )
    assert added["secret"].startswith("whsec_")
    assert added["events"] == ["account.activated", "delivery.sent"]
    listed = ok(here(env, tmp_path, "webhook-endpoints", "list")).stdout
    assert added["id"] in listed and "https://crm.example.com/hooks" in listed
    assert added["secret"] not in listed and "s3cr3t" not in listed
    [as_listed] = as_json(here(env, tmp_path, "webhook-endpoints", "list", "--json"))
    assert "secret" not in as_listed

    removed = ok(here(env, tmp_path, "webhook-endpoints", "remove", added["id"]))
    assert removed.stdout == f"webhook endpoint {added['id']} removed\n"
    gone = here(env, tmp_path, "webhook-endpoints", "remove", added["id"])
    assert gone.returncode == 1
    assert ok(here(env, tmp_path, "webhook-endpoints", "list")).stdout == "no webhook endpoints\n"
    audit = rows(engine, "operator_actions")
    assert [(a["action"], a["target"]) for a in audit] == [
        ("add_webhook_endpoint", added["id"]),
        ("remove_webhook_endpoint", added["id"]),
    ]
    assert audit[0]["actor"].startswith("cli:")
    assert added["secret"] not in json.dumps(audit, default=str)


def test_the_cli_refuses_a_bad_url_or_event(env: dict[str, str], tmp_path: Path) -> None:
    bad_url = here(
        env, tmp_path, "webhook-endpoints", "add", "ftp://x", "--event", "account.activated"
    )
    assert bad_url.returncode == 2 and "URL must be an http(s):// URL" in bad_url.stderr
    bad_event = here(env, tmp_path, "webhook-endpoints", "add", URL, "--event", "account.nope")
    assert bad_event.returncode == 2


def test_the_dashboard_adds_shows_the_secret_once_and_removes(
    admin: FlaskClient, engine: Engine
) -> None:
    token = signed_in(admin)
    form = {"csrf_token": token, "url": URL, "events": ["account.activated"]}
    added = admin.post("/admin/webhooks", data=form)
    assert added.status_code == 201
    page = added.get_data(as_text=True)
    [secret] = re.findall(r'<p class="panel" id="secret"><code>(whsec_[^<]+)</code>', page)
    [endpoint] = rows(engine, "webhook_endpoints")
    assert endpoint["events"] == ["account.activated"]
    listing = admin.get("/admin/webhooks").get_data(as_text=True)
    assert f'id="endpoint-{endpoint["public_id"]}"' in listing
    assert secret not in listing and "s3cr3t" not in listing

    refused = admin.post("/admin/webhooks", data={**form, "events": []})
    assert refused.status_code == 422 and len(rows(engine, "webhook_endpoints")) == 1
    path = f"/admin/webhooks/{endpoint['public_id']}/remove"
    removed = admin.post(path, data={"csrf_token": token})
    assert removed.status_code == 303
    notice = admin.get(removed.headers["Location"]).get_data(as_text=True)
    assert f"Webhook endpoint {endpoint['public_id']} removed" in notice
    assert rows(engine, "webhook_endpoints") == []
    [add, remove] = rows(engine, "operator_actions")
    assert (add["action"], remove["action"]) == ("add_webhook_endpoint", "remove_webhook_endpoint")
    assert add["actor"].startswith("dashboard@")
