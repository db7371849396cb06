"""Every path of the demo: `outpost up`'s admin token and one-click sign-in, the mail's code used
by one click from /dev/mail, the sign-in form, and a bounced address followed through the
dashboard (dead letter, stranded account, suppression, reissue), in headless Chromium."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from playwright import sync_api
from sqlalchemy import Engine

from outpost.banner import Stack, banner, sign_in_link
from outpost.kept_secrets import kept_secret
from support import processes
from support.browser import chromium, need_a_browser, screenshot_dir
from support.ports import free_port
from support.rows import let_time_pass, rows

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
TOKEN = "a-token-of-the-operator-0123456789"
Shoot = Callable[[str], None]
STACK = Stack(
    base="http://127.0.0.1:8000",
    mail="mail caught on 127.0.0.1:1025 into var/mail/",
    sms="SMS written to the log (SMS_URL=log:)",
    catching=True,
    token_generated=True,
    on_terminal=True,
    on_loopback=True,
)


def test_a_kept_secret_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "admin_token"
    made = kept_secret(path)
    assert len(made) >= 32 and kept_secret(path) == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_banner_shows_the_token_only_on_a_terminal_in_a_fragment() -> None:
    link = sign_in_link(STACK.base, "to/ken+=")
    assert link == "http://127.0.0.1:8000/dev/sign-in#token=to%2Fken%2B%3D"
    on_screen = banner(STACK, TOKEN)
    assert f"/dev/sign-in#token={TOKEN}" in on_screen
    assert "'bounce'" in on_screen and "550 5.1.1" in on_screen and "451 4.7.1" in on_screen
    for stack in (
        replace(STACK, on_terminal=False),
        replace(STACK, on_loopback=False),
        replace(STACK, token_generated=False),
    ):
        text = banner(stack, TOKEN)
        assert TOKEN not in text and "http://127.0.0.1:8000/admin/sign-in" in text
    assert "var/admin_token" in banner(replace(STACK, on_terminal=False), TOKEN)
    assert "bounce" not in banner(replace(STACK, catching=False), TOKEN)


def _up(database_url: str, tmp_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port, smtp_port = free_port(), free_port()
    command = [sys.executable, "-m", "outpost.cli", "up", "--port", str(port)]
    up = processes.start(
        [*command, "--smtp-port", str(smtp_port)],
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "",
            "SMTP_URL": "",
            "ADMIN_TOKEN": "",
            "APP_URL": "",
            "RELAY_METRICS_PORT": "0",
        },
        tmp_path,
        tmp_path / "up.log",
    )
    return f"http://127.0.0.1:{port}", up


def _register(page: sync_api.Page, base: str, address: str) -> None:
    page.goto(f"{base}/dev/signup")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    sync_api.expect(page.locator("#sent-to")).to_have_text(address)


def _caught_row(page: sync_api.Page, base: str, text: str) -> sync_api.Locator:
    """The newest row of /dev/mail with this text (address or subject), once its mail is caught."""
    row = page.locator("#mails tbody tr", has_text=text).first
    for _ in range(50):
        page.goto(f"{base}/dev/mail")
        if row.count():
            break
        page.wait_for_timeout(200)
    return row


@pytest.mark.long
def test_every_path_of_the_demo_in_chromium(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    need_a_browser()
    shots = screenshot_dir(tmp_path)
    base, up = _up(database_url, tmp_path)
    try:
        processes.wait_http(f"{base}/readyz", up)
        token_file = tmp_path / "var" / "admin_token"
        token = token_file.read_text()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1000, "height": 900})
            context.set_default_timeout(15_000)
            page = context.new_page()

            def shoot(name: str) -> None:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            _one_click_activation(page, base, shoot)
            _contested_sign_up(page, base, engine, shoot)
            _signs_in(page, base, shoot)
            _resets_by_the_mails_link(page, base, shoot)
            _fixes_a_typo(page, base, shoot)
            _bounce_through_the_dashboard(page, base, sign_in_link(base, token), shoot)
    finally:
        assert processes.stop(up, signal.SIGINT) == 0
    log = (tmp_path / "up.log").read_text()
    # Not a terminal: the banner says where the token is, and neither it nor a code is logged
    # (the fragments never reached the server, whose access log shows every path it was asked).
    assert "var/admin_token" in log and "550 5.1.1" in log
    assert token not in log and "token=" not in log and "code=" not in log
    assert "GET /dev/signup" in log and "/dev/sign-in" in log
    reissued = [r for r in rows(engine, "outbox") if r["recipient"] == "bounce@example.com"]
    assert [(r["purpose"], r["status"]) for r in reissued] == [
        ("activation", "dead"),
        ("activation", "sent"),
    ]


def _one_click_activation(page: sync_api.Page, base: str, shoot: Shoot) -> None:
    """Sign up, then one click on the caught mail's row activates."""
    _register(page, base, "ada@example.com")
    sync_api.expect(page.locator("#delivery-status")).to_have_text("sent")
    row = _caught_row(page, base, "ada@example.com")
    sync_api.expect(page.locator("#demo-refusals")).to_contain_text("550 5.1.1")
    href = row.get_by_role("link", name="Use the code").get_attribute("href") or ""
    found = re.fullmatch(r"/dev/signup#email=ada%40example.com&code=(\d{6})", href)
    assert found, href
    shoot("01-caught-mail-with-its-link")
    row.get_by_role("link", name="Use the code").click()
    sync_api.expect(page.locator("#active-message")).to_be_visible()
    # The fragment is gone from the address bar, and so from what a reload would show.
    assert page.url.endswith("/dev/signup")
    sync_api.expect(page.locator("#sign-in-email")).to_have_value("ada@example.com")
    shoot("02-activated-in-one-click")
    # The welcome mail's "sign in" link (APP_URL under `outpost up`) leads to this page.
    _caught_row(page, base, "Welcome").get_by_role("link").first.click()
    assert f"{base}/dev/signup" in page.inner_text("#text")


def _contested_sign_up(page: sync_api.Page, base: str, engine: Engine, shoot: Shoot) -> None:
    """Someone else signed up with her address first, with a password of theirs: her code's
    link asks for the password her account will have, and only hers works after."""
    theirs = "someone else's passphrase"
    first = {"email": "eve@example.com", "password": theirs}
    assert page.request.post(f"{base}/v1/registrations", data=first).status == 202
    let_time_pass(engine, 61)
    _register(page, base, "eve@example.com")
    rows_ = page.locator("#mails tbody tr", has_text="eve@example.com")
    for _ in range(50):
        page.goto(f"{base}/dev/mail")
        if rows_.count() >= 2:
            break
        page.wait_for_timeout(200)
    rows_.first.get_by_role("link", name="Use the code").click()
    sync_api.expect(page.locator("#activate-password-field")).to_be_visible()
    shoot("02b-contested-sign-up-asks-for-the-password")
    page.fill("#activate-password", PASSWORD)
    page.get_by_role("button", name="Activate").click()
    sync_api.expect(page.locator("#active-message")).to_be_visible()
    for password, status in ((theirs, 401), (PASSWORD, 200)):
        body = {"email": "eve@example.com", "password": password}
        assert page.request.post(f"{base}/v1/logins", data=body).status == status


def _signs_in(page: sync_api.Page, base: str, shoot: Shoot) -> None:
    """The sign-up page's sign-in form: a wrong password refused in words, the right one in."""
    page.goto(f"{base}/dev/signup")
    page.fill("#sign-in-email", "ada@example.com")
    page.fill("#sign-in-password", "not the password at all")
    page.get_by_role("button", name="Sign in").click()
    refused = page.locator('#sign-in-form .error[data-for=""]')
    sync_api.expect(refused).not_to_be_empty()
    page.fill("#sign-in-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.locator("#signed-in")).to_contain_text("is active")
    sync_api.expect(refused).to_be_empty()
    shoot("03-signed-in")


def _resets_by_the_mails_link(page: sync_api.Page, base: str, shoot: Shoot) -> None:
    """The reset mail's page links to the sign-up page's confirm form, its code filled in."""
    page.fill("#reset-email", "ada@example.com")
    page.get_by_role("button", name="Send me a code").click()
    sync_api.expect(page.locator("#confirm-form")).to_be_visible()
    _caught_row(page, base, "reset").get_by_role("link").first.click()
    code = page.inner_text("#code")
    shoot("04-reset-mail-with-its-link")
    page.locator("#use-code").click()
    page.wait_for_url(f"{base}/dev/signup")
    sync_api.expect(page.locator("#reset-code")).to_have_value(code)
    sync_api.expect(page.locator("#reset-email")).to_have_value("ada@example.com")
    page.fill("#new-password", NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    sync_api.expect(page.locator("#reset-done")).to_be_visible()
    shoot("05-password-changed-by-the-mails-link")


def _fixes_a_typo(page: sync_api.Page, base: str, shoot: Shoot) -> None:
    """A mistyped address changed from the code card, the new address's mail used in one click
    (the change kept by the tab): the account takes that address and is active."""
    _register(page, base, "grace@exmaple.com")
    page.get_by_role("button", name="Wrong address? Change it").click()
    sync_api.expect(page.locator("#change-current")).to_have_text("grace@exmaple.com")
    page.fill("#new-email", "grace@example.com")
    page.fill("#change-password", PASSWORD)
    shoot("06-changing-a-mistyped-address")
    page.get_by_role("button", name="Send a code to the new address").click()
    sync_api.expect(page.locator("#sent-to")).to_have_text("grace@example.com")
    sync_api.expect(page.locator("#delivery-status")).to_have_text("sent")
    row = _caught_row(page, base, "grace@example.com")
    href = row.get_by_role("link", name="Use the code").get_attribute("href") or ""
    assert re.fullmatch(r"/dev/signup#email=grace%40example.com&change_code=\d{6}", href), href
    row.get_by_role("link", name="Use the code").click()
    sync_api.expect(page.locator("#active-message")).to_have_text(
        "Your address is now grace@example.com, and your account is active."
    )
    shoot("07-address-changed-and-active")
    page.fill("#sign-in-email", "grace@example.com")
    page.fill("#sign-in-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.locator("#signed-in")).to_contain_text("is active")


def _bounce_through_the_dashboard(page: sync_api.Page, base: str, link: str, shoot: Shoot) -> None:
    """A bounce… address: the page says so; the operator sees and repairs it on the dashboard."""
    _register(page, base, "bounce@example.com")
    sync_api.expect(page.locator("#delivery-status")).to_have_text("failed")
    sync_api.expect(page.locator("#delivery-problem")).to_be_visible()
    shoot("08-bounced")

    page.goto(link)
    page.wait_for_url(f"{base}/admin/")
    assert "#" not in page.url
    shoot("09-dashboard-after-one-click-sign-in")
    page.goto(f"{base}/admin/dead")
    letter = page.locator("#dead-letters tbody tr", has_text="bounce@example.com")
    sync_api.expect(letter).to_have_count(1)
    assert "5.1.1" in letter.inner_text()
    shoot("10-dead-letter")
    # The stranded page says why in words and links to the page that fixes it.
    page.goto(f"{base}/admin/stranded")
    stranded = page.locator("#stranded tbody tr", has_text="bounce@example.com")
    sync_api.expect(stranded).to_contain_text("address suppressed")
    shoot("11-stranded-suppressed")
    stranded.get_by_role("link", name="Remove the suppression").click()
    page.wait_for_url(re.compile(r"/admin/suppressions#suppression-\d+$"))
    suppressed = page.locator("tr:target", has_text="bounce@example.com")
    sync_api.expect(suppressed).to_have_count(1)
    shoot("12-suppression")
    suppressed.get_by_role("button", name="Remove").click()
    sync_api.expect(page.locator("tr", has_text="bounce@example.com")).to_have_count(0)
    page.goto(f"{base}/admin/stranded")
    stranded = page.locator("#stranded tbody tr", has_text="bounce@example.com")
    sync_api.expect(stranded).to_have_count(1)
    stranded.get_by_role("button", name=re.compile("Reissue activation")).click()
    sync_api.expect(page.locator("[role=status]")).to_contain_text("activation")
    shoot("13-reissued")
    # The reissued code arrives (the catcher refuses a bounce… address's first mail only), and
    # the account is stranded no more.
    page.goto(f"{base}/dev/mail")
    arrived = page.get_by_role("link", name=re.compile("Activate"))
    for _ in range(50):
        if page.locator("tr", has_text="bounce@example.com").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    sync_api.expect(page.locator("tr", has_text="bounce@example.com")).to_have_count(1)
    sync_api.expect(arrived.first).to_be_visible()
    shoot("14-reissued-mail-arrived")
    page.goto(f"{base}/admin/stranded")
    stranded = page.locator("#stranded tbody tr", has_text="bounce@example.com")
    sync_api.expect(stranded).to_have_count(0)
