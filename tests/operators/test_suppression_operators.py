"""Suppressions for operators: the CLI, the admin API and the dashboard list and remove them
(audited), a retry is refused while the address is suppressed, stranded accounts say so."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.messaging.suppressions import Suppressor
from support.commands import here
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.dashboard import signed_in
from support.rows import rows
from support.smtp_sink import SinkServer

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "correct horse battery staple"
GONE_WHY = "address suppressed (rejected)"


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
    assert [(s["why"], s["remedy"], s["recipient"]) for s in stranded] == [
        (GONE_WHY, "remove_suppression", "gone@example.com")
    ]

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


def test_a_reissue_to_a_suppressed_address_is_refused_over_http_until_it_is_removed(
    admin: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    refused_as_unknown(admin, relay, smtp, "gone@example.com")
    [user] = rows(engine, "users")
    reissue = f"/v1/admin/users/{user['id']}/reissue-activation"
    [account] = admin.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    assert (account["why"], account["remedy"], account["reissuable"]) == (
        GONE_WHY,
        "remove_suppression",
        False,
    )
    queued = rows(engine, "outbox")

    refused = admin.post(reissue, headers=BEARER)

    assert refused.status_code == 409
    problem = refused.get_json()
    assert (problem["type"].rsplit("/", 1)[1], problem["title"]) == (
        "address-suppressed",
        "Address suppressed",
    )
    assert "/v1/admin/suppressions/remove" in problem["detail"]
    assert rows(engine, "outbox") == queued, "no message queued to die suppressed"
    admin.post(
        "/v1/admin/suppressions/remove", json={"addresses": ["gone@example.com"]}, headers=BEARER
    )
    [account] = admin.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    assert (account["why"], account["remedy"], account["reissuable"]) == (
        "message dead (permanent_error)",
        "reissue",
        True,
    )
    assert admin.post(reissue, headers=BEARER).status_code == 200
    relay.drain()
    assert [str(m["To"]) for m in smtp.sink.received] == ["gone@example.com"]


def test_the_cli_offers_no_reissue_to_a_suppressed_address_and_refuses_one(
    client: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    refused_as_unknown(client, relay, smtp, "gone@example.com")
    smtp.sink.mode = "reply:550"
    client.post("/v1/registrations", json={"email": "ada@example.com", "password": PASSWORD})
    relay.drain()
    gone, ada = (u["id"] for u in rows(engine, "users"))
    queued = rows(engine, "outbox")

    listed = here(env, tmp_path, "stranded")
    reissued = here(env, tmp_path, "stranded", "--reissue", str(gone))

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[1].startswith(str(gone)) and lines[1].endswith(GONE_WHY)
    assert lines[-2:] == [
        f"send a fresh code: outbox-relay stranded --reissue {ada}",
        "lift the suppression, then reissue: outbox-relay suppressions remove gone@example.com",
    ]
    assert (reissued.returncode, reissued.stderr) == (1, "")
    [_, line] = reissued.stdout.splitlines()
    assert line.split(None, 1) == [
        str(gone),
        "- (address suppressed: suppressions remove it first)",
    ]
    assert rows(engine, "outbox") == queued, "no message queued to die suppressed"
    [action] = [a for a in rows(engine, "operator_actions") if a["action"] == "reissue_activation"]
    assert action["details"] == {"outcome": "suppressed", "delivery": None}


def test_the_dashboard_offers_no_reissue_to_a_suppressed_address_and_refuses_one(
    admin: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    refused_as_unknown(admin, relay, smtp, "gone@example.com")
    [user] = rows(engine, "users")
    token = signed_in(admin)
    page = admin.get("/admin/stranded").get_data(as_text=True)
    assert GONE_WHY in page and "Reissue activation" not in page
    # "Why" leads to the page that fixes it: the suppression's own row, lit by the anchor.
    [suppression] = rows(engine, "suppressions")
    anchor = f"suppression-{suppression['id']}"
    assert f'href="/admin/suppressions#{anchor}">Remove the suppression</a>' in page
    assert f'<tr id="{anchor}">' in admin.get("/admin/suppressions").get_data(as_text=True)
    queued = rows(engine, "outbox")

    done = admin.post(
        f"/admin/stranded/{user['id']}/reissue",
        data={"csrf_token": token},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )

    assert done.status_code == 303
    after = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert f"The address of account {user['id']} is suppressed; remove it first" in after
    assert rows(engine, "outbox") == queued, "no message queued to die suppressed"


def test_the_cli_lists_and_removes(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, "bounced@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
    listed = here(env, tmp_path, "suppressions", "list")
    assert listed.returncode == 0
    assert "bounced@example.com" in listed.stdout and "hard_bounce" in listed.stdout
    as_json = json.loads(here(env, tmp_path, "suppressions", "list", "--json").stdout)
    assert [e["address"] for e in as_json] == ["bounced@example.com"]
    removed = here(env, tmp_path, "suppressions", "remove", "bounced@example.com", "x@example.com")
    assert removed.returncode == 1
    assert "bounced@example.com  removed" in removed.stdout
    assert "x@example.com  not suppressed" in removed.stdout
    assert "no suppressed addresses" in here(env, tmp_path, "suppressions", "list").stdout


def test_the_dashboard_shows_and_removes_a_suppression(admin: FlaskClient, engine: Engine) -> None:
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
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
    assert "complained" not in done.headers["Location"]
    after = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "is no longer suppressed" in after
    assert rows(engine, "suppressions") == []


def test_the_dashboard_refuses_to_remove_what_is_no_address(
    admin: FlaskClient, engine: Engine
) -> None:
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, "erased", reason="complaint", source="ses", now=utcnow()
        )
    token = signed_in(admin)
    done = admin.post(
        "/admin/suppressions/remove",
        data={"csrf_token": token, "address": "erased"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    after = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "not an email address or an E.164 number" in after
    assert len(rows(engine, "suppressions")) == 1


def test_the_admin_api_removes_addresses_only_and_names_what_is_none(
    admin: FlaskClient, engine: Engine
) -> None:
    """An erased account's placeholder, a national number or a word is no address: refused,
    naming each, and nothing is removed."""
    with engine.begin() as connection:
        for address in ("gone@example.com", "+33612345678"):
            Suppressor.under(SECRET_KEY).add(
                connection, address, reason="hard_bounce", source="ses", now=utcnow()
            )
    refused = admin.post(
        "/v1/admin/suppressions/remove",
        json={"addresses": ["gone@example.com", "erased", "0612345678", "+33 6"]},
        headers=BEARER,
    )
    assert refused.status_code == 422
    pointers = [e["pointer"] for e in refused.get_json()["errors"]]
    assert pointers == ["#/addresses/1", "#/addresses/2", "#/addresses/3"]
    assert len(rows(engine, "suppressions")) == 2

    removal = admin.post(
        "/v1/admin/suppressions/remove",
        json={"addresses": [" Gone@Example.com", "+33 6 12 34 56 78"]},
        headers=BEARER,
    )
    assert removal.get_json() == {"removed": ["+33612345678", "gone@example.com"]}


def test_the_cli_refuses_what_is_no_address_in_one_line(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, "gone@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
    refused = here(env, tmp_path, "suppressions", "remove", "gone@example.com", "erased")
    assert (refused.returncode, refused.stdout) == (2, "")
    [line] = refused.stderr.splitlines()
    assert line.startswith("outbox-relay: suppressions remove: ") and "E.164" in line
    assert [s["address"] for s in rows(engine, "suppressions")] == ["gone@example.com"]
    removed = here(env, tmp_path, "suppressions", "remove", "+33612345678", "GONE@example.com")
    assert "gone@example.com  removed" in removed.stdout
    assert "+33612345678  not suppressed" in removed.stdout


def test_a_dashboard_retry_refused_by_a_suppression_names_the_address_and_leads_to_it(
    admin: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    dead = refused_as_unknown(admin, relay, smtp, "gone@example.com")
    token = signed_in(admin)
    done = admin.post(
        f"/admin/dead/{dead}/retry",
        data={"csrf_token": token},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303
    assert "gone" not in done.headers["Location"], "the address stays out of the URL"
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    [suppression] = rows(engine, "suppressions")
    assert "gone@example.com is suppressed: remove it first, then retry." in page
    anchor = f"suppression-{suppression['id']}"
    assert f'<a href="/admin/suppressions#{anchor}">Remove the suppression</a>' in page
