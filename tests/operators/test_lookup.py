"""Support's lookup of an address: its messages (GET /v1/admin/messages, `outbox-relay messages`)
and its accounts (GET /v1/admin/accounts) over HTTP, at the command line and on the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.accounts.history import HISTORY_PAGE, AccountEvent, record
from shared.clock import utcnow
from shared.operations import LOOKUP_PAGE
from support.bulk import queue_one
from support.commands import here, ok
from support.constants import ADMIN_TOKEN, PASSWORD, MakeRelay
from support.dashboard import signed_in
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ADA, GRACE, PHONE = "ada@example.com", "grace@example.com", "+33612345678"
FIELDS = {
    "id", "purpose", "channel", "status", "attempts", "created_at", "sent_at", "delivered_at",
    "dead_reason", "reason", "last_error",
}  # fmt: skip


def ada_and_grace(admin: FlaskClient, make_relay: MakeRelay, smtp: SinkServer) -> None:
    """Ada registers, activates (a welcome) and asks for a reset; Grace registers."""
    for email in (ADA, GRACE):
        body = {"email": email, "password": PASSWORD}
        assert admin.post("/v1/registrations", json=body).status_code == 202
    make_relay().drain()
    [activation] = [m for m in smtp.sink.wait_for(2) if str(m["To"]) == ADA]
    answer = admin.post("/v1/activations", json={"email": ADA, "code": code_in(activation)})
    assert answer.status_code == 200
    assert admin.post("/v1/password-resets", json={"email": ADA}).status_code == 202
    make_relay().drain()


def test_the_lookup_lists_an_address_s_messages_newest_first_and_no_one_else_s(
    admin: FlaskClient, make_relay: MakeRelay, smtp: SinkServer, engine: Engine
) -> None:
    ada_and_grace(admin, make_relay, smtp)
    answer = admin.get(
        "/v1/admin/messages", query_string={"recipient": " ADA@Example.com "}, headers=AUTH
    )
    assert answer.status_code == 200
    page = answer.get_json()
    assert page["next"] is None
    assert [m["purpose"] for m in page["items"]] == ["password_reset", "welcome", "activation"]
    assert all(set(m) == FIELDS and m["status"] == "sent" for m in page["items"])
    ours = {r["public_id"] for r in rows(engine, "outbox") if r["recipient"] == ADA}
    assert {m["id"] for m in page["items"]} == ours
    coded = [m for m in smtp.sink.received if m["To"] == ADA and "Welcome" not in m["Subject"]]
    assert len(coded) == 2
    assert not any(f'"{code_in(m)}"' in answer.get_data(as_text=True) for m in coded)
    grace = admin.get("/v1/admin/messages", query_string={"recipient": GRACE}, headers=AUTH)
    assert [m["purpose"] for m in grace.get_json()["items"]] == ["activation"]
    nobody = admin.get(
        "/v1/admin/messages", query_string={"recipient": "no@example.com"}, headers=AUTH
    )
    assert nobody.get_json() == {"items": [], "next": None}
    for query in ({}, {"recipient": "not an address"}, {"recipient": ADA, "before": 0}):
        assert admin.get("/v1/admin/messages", query_string=query, headers=AUTH).status_code == 422


def test_the_lookup_pages_with_before(admin: FlaskClient, engine: Engine) -> None:
    queued = [queue_one(engine, ADA) for _ in range(LOOKUP_PAGE + 2)]
    queue_one(engine, GRACE)
    first = admin.get(
        "/v1/admin/messages", query_string={"recipient": ADA}, headers=AUTH
    ).get_json()
    assert [m["id"] for m in first["items"]] == queued[::-1][:LOOKUP_PAGE]
    query = {"recipient": ADA, "before": first["next"]}
    second = admin.get("/v1/admin/messages", query_string=query, headers=AUTH).get_json()
    assert ([m["id"] for m in second["items"]], second["next"]) == (queued[1::-1], None)


def test_accounts_are_found_by_email_and_by_phone(admin: FlaskClient) -> None:
    for body in ({"email": ADA}, {"phone": PHONE}):
        assert (
            admin.post("/v1/registrations", json={**body, "password": PASSWORD}).status_code == 202
        )

    def found(**query: str) -> list[tuple[str | None, str | None, str]]:
        answer = admin.get("/v1/admin/accounts", query_string=query, headers=AUTH)
        assert answer.status_code == 200
        return [(a["email"], a["phone"], a["status"]) for a in answer.get_json()["items"]]

    assert found(email="Ada@EXAMPLE.com") == [(ADA, None, "pending")]
    assert found(phone="+33 6 12 34 56 78") == [(None, PHONE, "pending")]
    assert found(email=ADA, phone=PHONE) == [(ADA, None, "pending"), (None, PHONE, "pending")]
    assert found(email=GRACE) == []
    assert admin.get("/v1/admin/accounts", headers=AUTH).status_code == 422


def test_outbox_relay_messages_prints_a_table_json_and_the_next_page(
    env: dict[str, str], tmp_path: Path, engine: Engine
) -> None:
    queued = [queue_one(engine, ADA) for _ in range(LOOKUP_PAGE + 1)]
    table = ok(here(env, tmp_path, "messages", "Ada@Example.com")).stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "CREATED", "CHANNEL", "PURPOSE", "STATUS", "ATTEMPTS"]
    assert [line.split()[0] for line in table[1:-1]] == queued[::-1][:LOOKUP_PAGE]
    hint = re.fullmatch(r"more: outbox-relay messages ada@example.com --before (\d+)", table[-1])
    assert hint is not None
    last = ok(here(env, tmp_path, "messages", ADA, "--json", "--before", hint[1]))
    assert [m["id"] for m in json.loads(last.stdout)] == queued[:1]
    assert set(json.loads(last.stdout)[0]) == FIELDS
    none = ok(here(env, tmp_path, "messages", GRACE))
    assert none.stdout.strip() == f"no messages to {GRACE}"
    refused = here(env, tmp_path, "messages", "not an address")
    assert refused.returncode == 2 and "messages: Must be an email address" in refused.stderr


def test_outbox_relay_history_prints_an_accounts_events_newest_first(
    env: dict[str, str], tmp_path: Path, admin: FlaskClient, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    ada_and_grace(admin, make_relay, smtp)
    wrong = {"email": ADA, "password": "not her passphrase at all"}
    assert admin.post("/v1/logins", json=wrong).status_code == 401
    [ada] = [u["id"] for u in rows(engine_of(admin), "users") if u["email"] == ADA]
    table = ok(here(env, tmp_path, "history", str(ada))).stdout.splitlines()
    assert table[0].split() == ["AT", "EVENT", "CLIENT", "DETAIL"]
    assert [line.split()[2] for line in table[1:]] == [
        "login_failed",
        "password_reset_requested",
        "activated",
        "registered",
    ]
    assert "method=password" in table[1]
    events = json.loads(ok(here(env, tmp_path, "history", str(ada), "--json")).stdout)
    assert [e["type"] for e in events][:1] == ["login_failed"]
    assert set(events[0]) == {"type", "at", "client", "detail"}
    unknown = here(env, tmp_path, "history", "999999")
    assert unknown.returncode == 1 and "no account 999999" in unknown.stderr


def test_outbox_relay_history_finds_the_account_holding_an_address(
    env: dict[str, str], tmp_path: Path, admin: FlaskClient, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """Support has an address, not an id: the history of the account holding it, the address
    read as `messages` reads it, and the next page's hint repeating it."""
    ada_and_grace(admin, make_relay, smtp)
    [ada] = [u["id"] for u in rows(engine_of(admin), "users") if u["email"] == ADA]
    by_id = ok(here(env, tmp_path, "history", str(ada), "--json")).stdout
    assert ok(here(env, tmp_path, "history", "Ada@Example.com", "--json")).stdout == by_id
    with engine_of(admin).begin() as connection:
        for _ in range(HISTORY_PAGE):
            record(connection, ada, AccountEvent.LOGIN_FAILED, now=utcnow())
    table = ok(here(env, tmp_path, "history", ADA)).stdout.splitlines()
    assert table[0].split() == ["AT", "EVENT", "CLIENT", "DETAIL"]
    assert len(table) == 1 + HISTORY_PAGE + 1
    hint = re.fullmatch(r"more: outbox-relay history ada@example.com --before (\d+)", table[-1])
    assert hint is not None
    rest = ok(here(env, tmp_path, "history", ADA, "--before", hint[1])).stdout.splitlines()
    assert [line.split()[2] for line in rest[1:]][-1] == "registered"
    nobody = here(env, tmp_path, "history", "nobody@example.com")
    assert nobody.returncode == 1 and "no account holds nobody@example.com" in nobody.stderr
    refused = here(env, tmp_path, "history", "not an address")
    assert refused.returncode == 2 and "history: Must be an email address" in refused.stderr
    too_big = here(env, tmp_path, "history", "9" * 30)
    assert too_big.returncode == 2 and "history: USER_ID must be from 1 to" in too_big.stderr


def engine_of(client: FlaskClient) -> Engine:
    engine: Engine = client.application.extensions["outpost"].engine
    return engine


def test_the_dashboard_shows_an_address_s_accounts_and_messages(
    admin: FlaskClient, make_relay: MakeRelay, smtp: SinkServer, engine: Engine
) -> None:
    ada_and_grace(admin, make_relay, smtp)
    assert admin.get("/admin/lookup?address=ada@example.com").status_code == 303
    signed_in(admin)
    assert 'aria-current="page">Lookup' in admin.get("/admin/lookup").get_data(as_text=True)
    page = admin.get("/admin/lookup", query_string={"address": "ADA@example.com"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    ours = [r["public_id"] for r in rows(engine, "outbox") if r["recipient"] == ADA]
    assert re.findall(r'<tr data-id="([^"]+)"', text) == ours[::-1]
    assert all(f'href="/admin/dead/{public_id}"' in text for public_id in ours)
    assert "password_reset" in text and "active" in text and GRACE not in text
    unknown = admin.get("/admin/lookup", query_string={"address": "no@example.com"})
    assert "No account holds no@example.com." in unknown.get_data(as_text=True)
    wrong = admin.get("/admin/lookup", query_string={"address": "<b>nobody"})
    assert wrong.status_code == 400 and "<b>" not in wrong.get_data(as_text=True)
