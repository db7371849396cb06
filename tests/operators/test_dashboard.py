"""The operators' dashboard at /admin: sign-in, CSRF, the pages and their actions.

The fast tests drive the Flask test client on both databases; the browser test drives headless
Chromium (Playwright) against the real app under gunicorn on PostgreSQL, and keeps screenshots.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, update
from werkzeug.test import TestResponse

from api_service import create_app
from api_service.dashboard.notices import notice_of
from api_service.dashboard.session import COOKIE
from shared.database.models import outbox
from shared.secrets.codes import derive_key
from support import processes
from support.browser import chromium, need_a_browser, screenshot_dir
from support.bulk import queue_emails
from support.constants import ADMIN_TOKEN as TOKEN
from support.constants import SECRET_KEY, MakeRelay
from support.dashboard import sign_in, signed_in
from support.ports import free_port
from support.rows import count, rows
from support.smtp_sink import SinkServer

ACTOR = "dashboard@127.0.0.1"
PASSWORD = "correct horse battery staple"
PAGES = ("/admin", "/admin/dead", "/admin/lookup", "/admin/stranded")


def dead_letters(
    smtp: SinkServer, make_relay: MakeRelay, engine: Engine, count_: int, *, prefix: str = "user"
) -> list[str]:
    """Queue welcome emails and let the relay kill them with a 550; their public ids."""
    ids = queue_emails(engine, count_, prefix=prefix)
    smtp.sink.mode = "reply:550"
    assert make_relay().drain() >= count_
    return ids


def stranded_account(
    client: FlaskClient, smtp: SinkServer, make_relay: MakeRelay, email: str
) -> tuple[int, str]:
    """Register an account whose activation dies on a 550; its user id and that message's id."""
    response = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202
    delivery: str = response.get_json()["delivery"]["id"]
    smtp.sink.mode = "reply:550"
    make_relay().drain()
    return user_id_of(client, email), delivery


def user_id_of(client: FlaskClient, email: str) -> int:
    """The id of the account of `email`, read from the dashboard's test database."""
    engine = client.application.extensions["outpost"].engine
    [user] = [u for u in rows(engine, "users") if u["email"] == email]
    return int(user["id"])


def row_of(engine: Engine, public_id: str) -> dict[str, Any]:
    """One outbox row by its public id."""
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == public_id]
    return row


def actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    """The operator actions recorded: actor, action, target."""
    return [(a["actor"], a["action"], a["target"]) for a in rows(engine, "operator_actions")]


def follow(client: FlaskClient, response: TestResponse) -> str:
    """The page a 303 after an action leads to, as text."""
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page.get_data(as_text=True)


# --- (a) the test client -----------------------------------------------------------------------


def test_every_dashboard_url_is_404_without_admin_token(client: FlaskClient) -> None:
    for path in (*PAGES, "/admin/sign-in", "/admin/sign-out", "/admin/nothing-here"):
        assert client.get(path).status_code == 404, path
    for path in (
        "/admin/sign-in",
        "/admin/sign-out",
        "/admin/dead/x/retry",
        "/admin/dead/retry-all",
    ):
        assert client.post(path, data={"token": TOKEN}).status_code == 404, path
    assert "Set-Cookie" not in client.post("/admin/sign-in", data={"token": ""}).headers


def test_a_wrong_token_gets_401_and_no_cookie(admin: FlaskClient) -> None:
    for token in ("wrong-token-0123456789abcdef", TOKEN[:-1]):
        response = sign_in(admin, token)
        assert response.status_code == 401
        assert "Set-Cookie" not in response.headers
        assert "That token is not right." in response.get_data(as_text=True)
    assert admin.get("/admin").status_code == 303


def test_the_right_token_sets_a_hardened_session_cookie_without_the_token(
    admin: FlaskClient,
) -> None:
    response = sign_in(admin, next="/admin/stranded")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/stranded"
    [cookie] = response.headers.getlist("Set-Cookie")
    attributes = [part.strip() for part in cookie.split(";")]
    name, _, value = attributes[0].partition("=")
    assert name == COOKIE
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"} <= set(
        attributes
    )
    payload = value.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert TOKEN not in value and TOKEN not in decoded
    assert set(json.loads(decoded)) == {"sid", "tk"}
    assert admin.get("/admin").status_code == 200


def test_sign_in_only_sends_back_into_the_dashboard(admin: FlaskClient) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/admin",
        "/v1/registrations",
        "/admin\\x",
    ):
        assert sign_in(admin, next=target).headers["Location"] == "/admin"


def test_pages_and_actions_require_a_session(
    admin: FlaskClient, admin_app: Flask, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    [dead] = dead_letters(smtp, make_relay, engine, 1)
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/admin/sign-in?next=")
    response = admin.get("/admin/dead?purpose=welcome")
    assert response.headers["Location"] == "/admin/sign-in?next=/admin/dead?purpose%3Dwelcome"
    assert admin.post(f"/admin/dead/{dead}/retry").status_code == 303

    admin.set_cookie(COOKIE, "forged.value.here", path="/admin")
    assert admin.get("/admin").status_code == 303
    assert row_of(engine, dead)["status"] == "dead"
    assert actions(engine) == []


def test_an_expired_session_or_a_rotated_token_ends_the_session(
    admin: FlaskClient, env: dict[str, str]
) -> None:
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 9 * 3600

    signed_in(admin)
    live = admin.get_cookie(COOKIE, path="/admin")
    assert live is not None
    data = URLSafeTimedSerializer(
        derive_key(SECRET_KEY, "outpost/dashboard-session"), salt="outpost/dashboard-session"
    ).loads(live.value)
    stale = URLSafeTimedSerializer(
        derive_key(SECRET_KEY, "outpost/dashboard-session"),
        salt="outpost/dashboard-session",
        signer=LongAgo,
    ).dumps(data)
    admin.set_cookie(COOKIE, stale, path="/admin")
    assert admin.get("/admin").status_code == 303

    admin.set_cookie(COOKIE, live.value, path="/admin")
    assert admin.get("/admin").status_code == 200
    rotated = create_app({**env, "ADMIN_TOKEN": TOKEN + "-rotated"})
    try:
        other = rotated.test_client()
        other.set_cookie(COOKIE, live.value, path="/admin")
        assert other.get("/admin").status_code == 303
    finally:
        rotated.extensions["outpost"].engine.dispose()


def test_a_post_without_the_right_csrf_token_is_403_and_changes_nothing(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    user_id, activation = stranded_account(admin, smtp, make_relay, "zoe@example.com")
    [dead] = dead_letters(smtp, make_relay, engine, 1)
    token = signed_in(admin)
    before = rows(engine, "outbox")
    for form in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}, {"csrf_token": token[:-1]}):
        for path in (
            f"/admin/dead/{dead}/retry",
            f"/admin/dead/{activation}/retry",
            f"/admin/dead/{dead}/discard",
            "/admin/dead/retry-all",
            f"/admin/stranded/{user_id}/reissue",
            "/admin/sign-out",
        ):
            response = admin.post(path, data=form)
            assert response.status_code == 403, (path, form)
            assert "security token" in response.get_data(as_text=True)
    assert rows(engine, "outbox") == before
    assert actions(engine) == []
    assert admin.get("/admin").status_code == 200  # sign-out was refused as well


def test_a_cross_site_post_is_refused(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    [dead] = dead_letters(smtp, make_relay, engine, 1)
    token = signed_in(admin)
    path = f"/admin/dead/{dead}/discard"
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = admin.post(path, data={"csrf_token": token}, headers=headers)
        assert response.status_code == 403, headers
    refused = admin.post(
        "/admin/sign-in", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    assert row_of(engine, dead)["resolution"] is None
    assert actions(engine) == []
    same_site = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert admin.post(path, data={"csrf_token": token}, headers=same_site).status_code == 303
    assert row_of(engine, dead)["resolution"] == "discarded"


def test_retry_discard_and_reissue_act_and_are_audited(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    user_id, activation = stranded_account(admin, smtp, make_relay, "ada@example.com")
    first, second = dead_letters(smtp, make_relay, engine, 2)
    token = signed_in(admin)

    listing = admin.get("/admin/dead").get_data(as_text=True)
    for public_id in (activation, first, second):
        assert f'data-id="{public_id}"' in listing
    assert "ada@example.com" in listing and "550" in listing

    # A dead letter's own page offers Retry and Discard (the stranded page links to it).
    detail = admin.get(f"/admin/dead/{first}").get_data(as_text=True)
    assert 'id="message-actions"' in detail and f'action="/admin/dead/{first}/retry"' in detail
    page = follow(admin, admin.post(f"/admin/dead/{first}/retry", data={"csrf_token": token}))
    assert f"Requeued {first}" in page and f'data-id="{first}"' not in page
    assert (row_of(engine, first)["status"], row_of(engine, first)["attempts"]) == ("pending", 0)
    assert 'id="message-actions"' not in admin.get(f"/admin/dead/{first}").get_data(as_text=True)

    page = follow(admin, admin.post(f"/admin/dead/{second}/discard", data={"csrf_token": token}))
    assert f"Discarded {second}" in page
    assert (row_of(engine, second)["status"], row_of(engine, second)["resolution"]) == (
        "dead",
        "discarded",
    )
    again = follow(admin, admin.post(f"/admin/dead/{second}/retry", data={"csrf_token": token}))
    assert "already dealt with" in again

    stranded = admin.get("/admin/stranded").get_data(as_text=True)
    assert f'data-user="{user_id}"' in stranded and "message dead (permanent_error)" in stranded
    outbox_rows = count(engine, "outbox")
    page = follow(
        admin, admin.post(f"/admin/stranded/{user_id}/reissue", data={"csrf_token": token})
    )
    assert f"Fresh activation code queued for account {user_id}" in page
    assert count(engine, "outbox") == outbox_rows + 1
    newest = rows(engine, "outbox")[-1]
    assert (newest["purpose"], newest["status"], newest["user_id"]) == (
        "activation",
        "pending",
        user_id,
    )
    assert f'data-user="{user_id}"' not in page

    # The reissue dealt with the dead activation it replaces: retrying it does nothing more.
    replaced = row_of(engine, activation)
    assert (replaced["resolution"], replaced["replaced_by"]) == ("retried", newest["public_id"])
    page = follow(admin, admin.post(f"/admin/dead/{activation}/retry", data={"csrf_token": token}))
    assert f"{activation} was already dealt with; nothing done." in page
    assert count(engine, "outbox") == outbox_rows + 1

    assert actions(engine) == [
        (ACTOR, "retry", first),
        (ACTOR, "discard", second),
        (ACTOR, "retry", second),
        (ACTOR, "reissue_activation", str(user_id)),
        (ACTOR, "retry", activation),
    ]
    overview = admin.get("/admin").get_data(as_text=True)
    assert overview.count(ACTOR) == 5
    # Each action in words, never its details' JSON.
    said = re.findall(
        r'data-label="Action">([^<]*)</td>\s*<td class="mono" data-label="Target">[^<]*</td>'
        r'<td data-label="Details">([^<]*)</td>',
        overview,
    )
    assert said == [
        ("Retry", "already dealt with"),
        ("Reissue activation", f"fresh activation code queued, delivery {newest['public_id']}"),
        ("Retry", "already dealt with"),
        ("Discard", "discarded"),
        ("Retry", "requeued"),
    ]
    assert "&#34;outcome&#34;" not in overview and '"outcome"' not in overview


def test_filters_paging_and_retry_all_matching(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    welcome = dead_letters(smtp, make_relay, engine, 55, prefix="w")
    stranded_account(admin, smtp, make_relay, "bob@example.com")
    token = signed_in(admin)

    first = admin.get("/admin/dead?purpose=welcome&channel=email&reason=permanent_error")
    text = first.get_data(as_text=True)
    assert "<strong>55</strong> matching" in text
    assert text.count("<tr data-id=") == 50
    assert "bob@example.com" not in text
    [next_page] = re.findall(r'id="next-page" href="([^"]+)"', text)
    rest = admin.get(next_page.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count("<tr data-id=") == 5 and 'id="next-page"' not in rest
    shown = re.findall(r'<tr data-id="([^"]+)"', text) + re.findall(r'<tr data-id="([^"]+)"', rest)
    assert sorted(shown) == sorted(welcome)

    one = admin.get("/admin/dead?recipient=w7%40example.com").get_data(as_text=True)
    assert re.findall(r'<tr data-id="([^"]+)"', one) == [welcome[7]]
    nothing = admin.get("/admin/dead?channel=sms").get_data(as_text=True)
    assert 'id="no-dead-letters"' in nothing
    # A filter that cannot match is refused, saying why: dropped, it would list every letter.
    for query, why in [
        ("channel=pigeon", "There is no channel &#39;pigeon&#39;: a channel is one of email"),
        ("reason=%3Cx%3E", "There is no reason &#39;&lt;x&gt;&#39;: a reason is one of"),
        ("before=abc", "There is no page before &#39;abc&#39;"),
        ("recipient=w7%00x", "No recipient can have that address."),
    ]:
        refused = admin.get(f"/admin/dead?{query}")
        assert refused.status_code == 400 and why in refused.get_data(as_text=True), query
    # A bulk retry under an unknown filter retries nothing (it would have retried them all).
    refused = admin.post(
        "/admin/dead/retry-all", data={"csrf_token": token, "purpose": "welcome", "channel": "x"}
    )
    assert refused.status_code == 400 and not actions(engine)

    page = follow(
        admin,
        admin.post("/admin/dead/retry-all", data={"csrf_token": token, "purpose": "welcome"}),
    )
    assert "Retried 55 dead letters: 55 requeued." in page
    assert "<strong>0</strong> matching" in page
    assert all(row_of(engine, w)["status"] == "pending" for w in welcome)
    [activation] = [r for r in rows(engine, "outbox") if r["purpose"] == "activation"]
    assert activation["status"] == "dead" and activation["resolution"] is None
    assert len(actions(engine)) == 55


def test_overview_shows_the_figures_and_a_24_hour_svg_chart(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    queue_emails(engine, 3, prefix="ok")
    assert make_relay().drain() == 3
    dead_letters(smtp, make_relay, engine, 2, prefix="no")
    queue_emails(engine, 4, prefix="later")
    signed_in(admin)
    page = admin.get("/admin").get_data(as_text=True)
    assert re.search(r'id="pending">4<', page)
    assert re.search(r'id="sent-last-hour">3<', page)
    assert re.search(r'id="dead-unresolved"><a [^>]+>2<', page)
    [svg] = re.findall(r"<svg class=\"chart\".*?</svg>", page, re.S)
    assert 'role="img"' in svg and '<title id="chart-title">' in svg
    bars = re.findall(r'<rect class="(sent|failed)"[^>]*><title>([^<]+)</title></rect>', svg)
    assert len(bars) == 48
    assert sum(int(t.split(": ")[1].split()[0]) for k, t in bars if k == "sent") == 3
    assert sum(int(t.split(": ")[1].split()[0]) for k, t in bars if k == "failed") == 2
    assert "hour (UTC)" in svg and "attempts" in svg
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")


def test_every_page_escapes_its_data(
    admin: FlaskClient, engine: Engine, smtp: SinkServer, make_relay: MakeRelay
) -> None:
    [dead] = dead_letters(smtp, make_relay, engine, 1)
    evil = '<script>alert("x")</script>'
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == dead)
            .values(recipient=f"{evil}@example.com", last_error=f'550 <img src=x onerror="{evil}">')
        )
    signed_in(admin)
    page = admin.get("/admin/dead").get_data(as_text=True)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;@example.com" in page
    reflected = admin.get(
        "/admin/dead?notice=retry:requeued&target=%3Cscript%3E&recipient=%3Cscript%3E"
    ).get_data(as_text=True)
    assert "<script" not in reflected and "Requeued &lt;script&gt;" in reflected


def test_security_headers_on_every_dashboard_answer(admin: FlaskClient) -> None:
    answers = [
        admin.get("/admin/sign-in"),
        sign_in(admin, "wrong-token-0123456789"),
        admin.get("/admin"),
    ]
    token = signed_in(admin)
    answers += [admin.get(path) for path in PAGES]
    answers += [admin.post("/admin/dead/retry-all", data={}), admin.get("/admin/sign-out")]
    for response in answers:
        headers = response.headers
        assert headers["Content-Security-Policy"].startswith("default-src 'none';")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "form-action 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert [r.status_code for r in answers[-2:]] == [403, 405]
    assert token


def test_sign_out_removes_the_cookie(admin: FlaskClient) -> None:
    token = signed_in(admin)
    response = admin.post("/admin/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/sign-in?notice=signed_out"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=;") and "Max-Age=0" in cookie and "Path=/admin" in cookie
    assert admin.get("/admin").status_code == 303
    assert "Signed out." in admin.get("/admin/sign-in?notice=signed_out").get_data(as_text=True)


def test_a_cookie_kept_after_signing_out_opens_nothing(admin_app: Flask) -> None:
    """Sign-out ends the session on the server too: a copy of the cookie taken before (another
    tab, a stolen copy) is refused, while another session goes on."""
    browser, other = admin_app.test_client(), admin_app.test_client()
    token = signed_in(browser)
    signed_in(other)
    kept = browser.get_cookie(COOKIE, path="/admin")
    assert kept is not None
    assert browser.post("/admin/sign-out", data={"csrf_token": token}).status_code == 303
    thief = admin_app.test_client()
    thief.set_cookie(COOKIE, kept.value, path="/admin")
    assert thief.get("/admin").status_code == 303
    assert thief.post("/admin/dead/retry-all", data={"csrf_token": token}).status_code == 303
    assert other.get("/admin").status_code == 200


def test_wrong_tokens_on_either_surface_lock_the_client_out_right_token_included(
    admin: FlaskClient,
) -> None:
    """Ten wrong tokens in 15 minutes, on the dashboard and the admin API together, and the
    client's tokens go unread until its window passes: guessing stops, rather than merely
    failing. Another client (another /64) is unaffected."""
    wrong = "wrong-token-0123456789"
    for _ in range(5):
        assert sign_in(admin, wrong).status_code == 401
        bearer = admin.get("/v1/admin/stats", headers={"Authorization": f"Bearer {wrong}"})
        assert bearer.status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    for refused in (
        sign_in(admin, wrong),
        admin.get("/v1/admin/stats", headers={"Authorization": f"Bearer {wrong}"}),
        admin.get("/v1/admin/stats", headers=right),
        sign_in(admin),
    ):
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Set-Cookie" not in refused.headers
    other = {"REMOTE_ADDR": "2001:db8:1::7"}
    assert admin.get("/v1/admin/stats", headers=right, environ_base=other).status_code == 200
    signed = admin.post("/admin/sign-in", data={"token": TOKEN}, environ_base=other)
    assert signed.status_code == 303


def test_requests_without_credentials_are_challenged_and_never_counted(
    admin: FlaskClient,
) -> None:
    """A request that brings no token guesses nothing: it gets its 401, and the client's right
    token is still served after 35 of them, on the admin API and on the dashboard's sign-in."""
    for _ in range(35):
        bare = admin.get("/v1/admin/stats")
        assert bare.status_code == 401
        assert bare.headers["WWW-Authenticate"].startswith("Bearer")
        for form in ({}, {"token": ""}):
            empty = admin.post("/admin/sign-in", data=form)
            assert empty.status_code == 401 and "Set-Cookie" not in empty.headers
    assert "Enter the admin token." in empty.get_data(as_text=True)
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert admin.get("/v1/admin/stats", headers=right).status_code == 200
    assert sign_in(admin).status_code == 303


# --- (b) headless Chromium against gunicorn ----------------------------------------------------


@pytest.mark.postgresql_only
def test_an_operator_repairs_delivery_in_headless_chromium(
    env: dict[str, str],
    engine: Engine,
    smtp: SinkServer,
    make_relay: MakeRelay,
    tmp_path: Path,
) -> None:
    need_a_browser()
    shots = screenshot_dir(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.gunicorn({**env, "ADMIN_TOKEN": TOKEN}, port, tmp_path)
    try:
        processes.wait_http(f"{base}/readyz", api)
        queue_emails(engine, 5, prefix="delivered")
        assert make_relay().drain() == 5
        status, body, _ = processes.post_json(
            f"{base}/v1/registrations", {"email": "grace@example.com", "password": PASSWORD}
        )
        assert status == 202
        activation = body["delivery"]["id"]
        welcome = queue_emails(engine, 3, prefix="welcome")
        smtp.sink.mode = "reply:550"
        assert make_relay().drain() == 4
        [user] = rows(engine, "users")

        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            taken: list[Path] = []

            def shoot(name: str) -> None:
                taken.append(shots / f"{name}.png")
                page.screenshot(path=str(taken[-1]), full_page=True)

            page.goto(f"{base}/admin")
            assert page.url == f"{base}/admin/sign-in?next=/admin"
            page.fill("#token", "not-the-token-0123456789")
            page.get_by_role("button", name="Sign in").click()
            assert page.locator("[role=alert]").inner_text() == "That token is not right."
            shoot("01-sign-in-refused")
            page.fill("#token", TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/admin")
            [cookie] = page.context.cookies()
            assert (cookie["name"], cookie["path"], cookie["sameSite"]) == (
                COOKIE,
                "/admin",
                "Strict",
            )
            assert cookie["secure"] and cookie["httpOnly"] and TOKEN not in cookie["value"]

            assert page.inner_text("#dead-unresolved") == "4"
            chart = page.locator("svg#hourly-chart")
            assert chart.is_visible()
            assert chart.locator("rect").count() == 48
            failed = chart.locator("rect.failed")
            tallest = max(range(24), key=lambda n: float(failed.nth(n).get_attribute("height")))
            assert failed.nth(tallest).locator("title").text_content().endswith(": 4 failed")
            assert failed.nth(tallest).bounding_box()["height"] > 50
            shoot("02-overview")

            page.get_by_role("link", name="Dead letters").click()
            page.wait_for_url(f"{base}/admin/dead")
            assert page.locator("#dead-letters tbody tr").count() == 4
            page.select_option("select[name=purpose]", "welcome")
            page.get_by_role("button", name="Filter").click()
            page.wait_for_url(re.compile(r".*purpose=welcome.*"))
            assert page.locator("#dead-letters tbody tr").count() == 3
            shoot("03-dead-letters-filtered")

            page.locator(f'tr[data-id="{welcome[0]}"] button', has_text="Retry").click()
            page.wait_for_selector("[role=status]")
            assert f"Requeued {welcome[0]}" in page.inner_text("[role=status]")
            assert "purpose=welcome" in page.url
            assert page.locator("#dead-letters tbody tr").count() == 2
            requeued = row_of(engine, welcome[0])
            assert (requeued["status"], requeued["attempts"]) == ("pending", 0)

            page.locator(f'tr[data-id="{welcome[1]}"] button', has_text="Discard").click()
            page.wait_for_selector(f'[role=status]:has-text("Discarded {welcome[1]}")')
            assert row_of(engine, welcome[1])["resolution"] == "discarded"
            assert page.locator("#dead-letters tbody tr").count() == 1
            shoot("04-dead-letters-after-actions")

            page.get_by_role("link", name="Stranded accounts").click()
            page.wait_for_url(f"{base}/admin/stranded")
            row = page.locator(f'tr[data-user="{user["id"]}"]')
            assert "grace@example.com" in row.inner_text()
            shoot("05-stranded")
            row.get_by_role("button", name=re.compile("Reissue activation")).click()
            page.wait_for_selector("[role=status]")
            assert "Fresh activation code queued" in page.inner_text("[role=status]")
            assert page.locator(f'tr[data-user="{user["id"]}"]').count() == 0
            shoot("06-stranded-after-reissue")
            newest = rows(engine, "outbox")[-1]
            assert (newest["purpose"], newest["status"], newest["user_id"]) == (
                "activation",
                "pending",
                user["id"],
            )
            assert row_of(engine, activation)["status"] == "dead"

            page.get_by_role("link", name="Overview").click()
            page.wait_for_url(f"{base}/admin")
            assert page.locator("#actions tbody tr").count() == 3
            # The reissue dealt with the dead activation it replaced: one is left.
            assert page.inner_text("#dead-unresolved") == "1"
            shoot("07-overview-after-actions")
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{base}/admin/sign-in?notice=signed_out")
            assert page.context.cookies() == []
            page.goto(f"{base}/admin/dead")
            assert "/admin/sign-in" in page.url
    finally:
        assert processes.stop(api) == 0

    assert [(a, b) for a, b, _ in actions(engine)] == [
        (ACTOR, "retry"),
        (ACTOR, "discard"),
        (ACTOR, "reissue_activation"),
    ]
    assert [t for _, _, t in actions(engine)] == [welcome[0], welcome[1], str(user["id"])]
    assert len(taken) == 7
    for shot in taken:
        data = shot.read_bytes()
        assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n"), shot


def test_the_overview_answers_with_or_without_a_trailing_slash(admin: FlaskClient) -> None:
    signed_in(admin)
    with_slash, without = admin.get("/admin/"), admin.get("/admin")
    assert (with_slash.status_code, without.status_code) == (200, 200)
    assert with_slash.get_data(as_text=True).count("csrf_token") >= 1


def test_sign_in_over_plain_http_on_another_host_says_why_the_cookie_will_not_stick(
    env: dict[str, str],
) -> None:
    plain = create_app({**env, "ADMIN_TOKEN": TOKEN}).test_client()
    proxied = create_app({**env, "ADMIN_TOKEN": TOKEN, "TRUSTED_PROXIES": "1"}).test_client()
    why = "will not keep the sign-in cookie"

    assert why in plain.get("/admin/sign-in", base_url="http://ops.example").get_data(as_text=True)
    assert why not in plain.get("/admin/sign-in", base_url="http://localhost").get_data(
        as_text=True
    )
    assert why not in plain.get("/admin/sign-in", base_url="https://ops.example").get_data(
        as_text=True
    )
    behind_tls = proxied.get(
        "/admin/sign-in", base_url="http://ops.example", headers={"X-Forwarded-Proto": "https"}
    )
    assert why not in behind_tls.get_data(as_text=True)
    assert why in proxied.get("/admin/sign-in", base_url="http://ops.example").get_data(
        as_text=True
    )


def test_a_bulk_retry_that_retried_nothing_says_so_in_a_warning() -> None:
    suppressed = {"notice": "retry_all", "total": "2", "n_suppressed": "2"}
    assert notice_of(suppressed) == (
        "warn",
        "Retried 0 of 2 dead letters: 2 address suppressed.",
    )
    mixed = {"notice": "retry_all", "total": "3", "n_requeued": "2", "n_suppressed": "1"}
    assert notice_of(mixed) == (
        "warn",
        "Retried 2 of 3 dead letters: 2 requeued, 1 address suppressed.",
    )
    assert notice_of({"notice": "retry_all", "total": "2", "n_requeued": "2"}) == (
        "ok",
        "Retried 2 dead letters: 2 requeued.",
    )
