"""Every page a person sees, at a phone's 390x844 and a desktop's 1280x800, in headless Chromium:
the dashboard with rows in every table and the demo's pages with caught mail. Nothing scrolls
sideways, every action lies within the screen's width, the mail's frame shows the whole mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright import sync_api
from sqlalchemy import Engine

from api_service import create_app
from outpost.catcher import start_catcher
from shared.settings.processes import OUTPOST_DEMO_HOST, OUTPOST_DEMO_MAIL_DIR
from shared.settings.smtp_url import parse_smtp_url
from support import processes
from support.browser import chromium, screenshot_dir
from support.bulk import queue_emails
from support.constants import ADMIN_TOKEN, PASSWORD, MakeRelay
from support.dashboard import signed_in
from support.ports import free_port
from support.smtp_sink import SinkServer
from support.sns import BEARER, TOKEN

SCREENS = {"phone": (390, 844), "desktop": (1280, 800)}
LONG_NAME = "a.rather.long.recipient.name"

# The actions (buttons, links, form submits) outside the viewport's width, or cut by a box that
# scrolls or clips its content (a table's panel).
OUTSIDE = """() => {
  const within = (box, left, right) => box.left >= left - 0.5 && box.right <= right + 0.5;
  const clipped = (el, box) => {
    for (let up = el.parentElement; up; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === "visible") continue;
      const edge = up.getBoundingClientRect().left + up.clientLeft;
      if (!within(box, edge, edge + up.clientWidth)) return true;
    }
    return false;
  };
  const actions = document.querySelectorAll("a[href], button, input[type=submit], summary");
  return [...actions]
    .map((el) => ({ el, box: el.getBoundingClientRect() }))
    .filter(({ box }) => box.width > 0 && box.height > 0)
    .filter(({ el, box }) => !within(box, 0, window.innerWidth) || clipped(el, box))
    .map(({ el, box }) => `${el.tagName} "${el.textContent.trim()}" ${box.left}..${box.right}`);
}"""
SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    """One Chromium for the module."""
    with chromium() as browser:
        yield browser


def _catch_mail(make_relay: MakeRelay, engine: Engine, mail_dir: Path, client: FlaskClient) -> None:
    """An activation and a welcome mail, as rendered, caught by the demo's catcher."""
    port = free_port()
    catcher = start_catcher(mail_dir, "127.0.0.1", port)
    try:
        answer = client.post(
            "/v1/registrations", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert answer.status_code == 202
        queue_emails(engine, 1, prefix=LONG_NAME)
        assert make_relay(smtp=parse_smtp_url(f"smtp://127.0.0.1:{port}")).drain() == 2
    finally:
        catcher.stop()


def _fill_every_table(
    smtp: SinkServer, make_relay: MakeRelay, engine: Engine, client: FlaskClient
) -> str:
    """A stranded account that can be reissued, with a failed sign-in from an IPv6 client in
    its history, dead letters whose addresses are suppressed (550 5.1.1), an operator action;
    a dead letter's id."""
    answer = client.post(
        "/v1/registrations", json={"email": "grace@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 202
    wrong = {"email": "grace@example.com", "password": "not the password at all"}
    ipv6 = {"REMOTE_ADDR": "2001:db8:85a3:8d3:1319:8a2e:370:7348"}
    assert client.post("/v1/logins", json=wrong, environ_base=ipv6).status_code == 401
    smtp.sink.mode = "reply:550"
    assert make_relay().drain() == 1
    dead = queue_emails(engine, 3, prefix=LONG_NAME, domain="a-long-company-domain.example.com")
    smtp.sink.mode = "reply:550 5.1.1 The email account that you tried to reach does not exist"
    assert make_relay().drain() == 3
    csrf = signed_in(client)
    discarded = client.post(f"/admin/dead/{dead[2]}/discard", data={"csrf_token": csrf})
    assert discarded.status_code == 303
    return dead[0]


def _reported(smtp: SinkServer, make_relay: MakeRelay, engine: Engine, client: FlaskClient) -> str:
    """A message the server took, then a report of every kind about it (a delivery, a delay,
    a bounce, a complaint), each with a server's long status text; its id."""
    domain = "another-long-company-domain.example.com"
    [sent] = queue_emails(engine, 1, prefix=LONG_NAME, domain=domain)
    smtp.sink.mode = "accept"
    assert make_relay().drain() == 1
    address = f"<{LONG_NAME}0@{domain}>"
    reports = [
        ("delivery", False, f"smtp; 250 2.0.0 {address} Ok: queued as 4BxYzQ1a2Bz3"),
        ("bounce", False, f"smtp; 451 4.2.0 {address}: mailbox busy, try again later"),
        ("bounce", True, f"smtp; 550 5.1.1 {address}: Recipient address rejected: User unknown"),
        ("complaint", True, "abuse"),
    ]
    for kind, permanent, said in reports:
        event = {"type": kind, "delivery_id": sent, "permanent": permanent, "diagnostic": said}
        answer = client.post("/v1/provider-events", json={"events": [event]}, headers=BEARER)
        assert answer.get_json() == {"accepted": 1, "unknown": 0}
    return sent


def _check(page: sync_api.Page, url: str, shot: Path) -> list[str]:
    """Open `url` and take its screenshot; what is wrong with it at this width."""
    answer = page.goto(url)
    assert answer is not None and answer.status < 500, url
    return _judge(page, shot)


def _judge(page: sync_api.Page, shot: Path) -> list[str]:
    """Take the screenshot of the page as it is; what is wrong with it, named as the shot is."""
    wrong = [f"{shot.stem}: {cut}" for cut in _frames_cut(page)]
    page.screenshot(path=str(shot), full_page=True)
    overflow = page.evaluate(SIDEWAYS)
    wrong += [f"{shot.stem}: scrolls {overflow} px sideways"] if overflow > 0 else []
    return wrong + [f"{shot.stem}: {action} out of reach" for action in page.evaluate(OUTSIDE)]


def _frames_cut(page: sync_api.Page) -> list[str]:
    """The frames of the page shorter than their document, once the page had 2 s to size them."""
    cut: list[str] = []
    for frame in page.locator("iframe").element_handles():
        inner = frame.content_frame()
        assert inner is not None
        for _ in range(20):
            height = inner.evaluate("document.documentElement.scrollHeight")
            if frame.evaluate("(f) => f.clientHeight") >= height:
                break
            page.wait_for_timeout(100)
        else:
            cut.append(f"the frame cuts its {height} px document")
    return cut


def _code_sent(page: sync_api.Page, base: str, shot: Path, email: str) -> list[str]:
    """The sign-up page once it asks for the code (its Activate and resend buttons shown), then
    with its address change form open."""
    page.goto(f"{base}/dev/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    sync_api.expect(page.locator("#activate")).to_be_visible()
    wrong = _judge(page, shot)
    page.get_by_role("button", name="Wrong address? Change it").click()
    sync_api.expect(page.locator("#change-form")).to_be_visible()
    return wrong + _judge(page, shot.with_name(shot.name.replace("code-sent", "change-address")))


def _sign_in(page: sync_api.Page) -> None:
    """Sign in to the dashboard from its sign-in page."""
    page.fill("#token", ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("nav[aria-label=Dashboard]")


def _pages(base: str, dead_letter: str, reported: str, mails: list[str]) -> dict[str, str]:
    """Every page behind the sign-in, by name: the dashboard's and the demo's."""
    return {
        "overview": f"{base}/admin",
        "dead-letters": f"{base}/admin/dead",
        "dead-letter": f"{base}/admin/dead/{dead_letter}",
        "message-reports": f"{base}/admin/dead/{reported}",
        "lookup": f"{base}/admin/lookup",
        "lookup-grace": f"{base}/admin/lookup?address=grace@example.com",
        "stranded": f"{base}/admin/stranded",
        "suppressions": f"{base}/admin/suppressions",
        "webhooks": f"{base}/admin/webhooks",
        "providers": f"{base}/admin/providers",
        "error": f"{base}/admin/dead/no-such-message",
        "signup": f"{base}/dev/signup",
        "caught-mail": f"{base}/dev/mail",
        **{f"mail-{n}": f"{base}/dev/mail/{mail}" for n, mail in enumerate(mails, 1)},
    }


@pytest.mark.postgresql_only
def test_every_page_fits_a_phone_and_a_desktop(
    browser: sync_api.Browser,
    env: dict[str, str],
    engine: Engine,
    smtp: SinkServer,
    make_relay: MakeRelay,
    tmp_path: Path,
) -> None:
    shots = screenshot_dir(tmp_path)
    mail_dir = tmp_path / "mail"
    served = {**env, "ADMIN_TOKEN": ADMIN_TOKEN, "PROVIDER_EVENTS_TOKEN": TOKEN}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo_env = {
        **served,
        OUTPOST_DEMO_MAIL_DIR.name: str(mail_dir),
        OUTPOST_DEMO_HOST.name: "127.0.0.1",
    }
    # Started first: it comes up while the tables fill.
    server = processes.gunicorn(demo_env, port, tmp_path, "outpost.demo:create_demo_app()")
    wrong: list[str] = []
    try:
        app = create_app(served)
        try:
            client = app.test_client()
            _catch_mail(make_relay, engine, mail_dir, client)
            dead_letter = _fill_every_table(smtp, make_relay, engine, client)
            reported = _reported(smtp, make_relay, engine, client)
        finally:
            app.extensions["outpost"].engine.dispose()
        mails = sorted(p.stem for p in mail_dir.glob("*.eml"))
        pages = _pages(base, dead_letter, reported, mails)
        processes.wait_http(f"{base}/readyz", server)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        for screen, (width, height) in SCREENS.items():
            page.set_viewport_size({"width": width, "height": height})
            wrong += _check(page, f"{base}/admin/sign-in", shots / f"{screen}-sign-in.png")
        _sign_in(page)
        for screen, (width, height) in SCREENS.items():
            page.set_viewport_size({"width": width, "height": height})
            for name, url in pages.items():
                wrong += _check(page, url, shots / f"{screen}-{name}.png")
                assert not name.startswith("mail-") or page.locator("iframe").count() == 1
            shot = shots / f"{screen}-signup-code-sent.png"
            wrong += _code_sent(page, base, shot, f"{screen}@example.com")
        page.close()
    finally:
        assert processes.stop(server) == 0
    assert wrong == [], "\n".join(wrong)
