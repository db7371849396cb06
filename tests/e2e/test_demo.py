"""The demo's pages: the mail viewer and the reference sign-up page, served by `outpost up` on a
loopback host only, and walked through in headless Chromium as a newcomer would."""

from __future__ import annotations

import email
import email.policy
import json
import re
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from playwright import sync_api

from api_service import create_app
from outpost.demo import create_demo_app
from shared.settings.processes import OUTPOST_DEMO_HOST, OUTPOST_DEMO_MAIL_DIR
from support import processes
from support.browser import chromium, need_a_browser, screenshot_dir
from support.ports import free_port
from support.smtp_sink import SinkServer, code_in
from support.smtp_stages import StagedSmtp

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"


def _write_mail(directory: Path, name: str, to: str, subject: str, code: str) -> None:
    message = EmailMessage()
    message["To"], message["Subject"] = to, subject
    message.set_content(f"Your code is {code}.")
    message.add_alternative(f"<p>Your code is <b>{code}</b>.</p><script>alert(1)</script>", "html")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.eml").write_bytes(bytes(message))


@pytest.fixture
def demo(env: dict[str, str], tmp_path: Path) -> Iterator[Flask]:
    app = create_demo_app({**env, OUTPOST_DEMO_MAIL_DIR.name: str(tmp_path / "mail")})
    yield app
    app.extensions["outpost"].engine.dispose()


def test_the_viewer_lists_newest_first_and_marks_the_code(demo: Flask, tmp_path: Path) -> None:
    _write_mail(tmp_path / "mail", "20261122-100000-0001", "old@example.com", "First", "111111")
    _write_mail(tmp_path / "mail", "20261122-100001-0002", "new@example.com", "Second", "222222")
    # The catcher's names sort by time; so does the viewer, newest first.
    (tmp_path / "mail" / "20261122-100000-0001.eml").touch()
    (tmp_path / "mail" / "20261122-100001-0002.eml").touch()
    client = demo.test_client()
    listing = client.get("/dev/mail").get_data(as_text=True)
    assert listing.index("new@example.com") < listing.index("old@example.com")
    page = client.get("/dev/mail/20261122-100001-0002").get_data(as_text=True)
    assert '<mark id="code">222222</mark>' in page
    assert "Your code is <mark>222222</mark>." in page
    # The HTML part sits in a sandboxed frame's srcdoc, escaped: its script runs nowhere. The
    # frame keeps the page's origin only so that the page can read the mail's height.
    assert 'sandbox="allow-same-origin"' in page and "<script>alert(1)" not in page


@pytest.mark.parametrize(
    "path",
    ["/dev/mail", "/dev/signup", "/dev/static/signup.js", "/dev/sign-in", "/dev/static/sign_in.js"],
)
def test_the_pages_are_only_the_demos_on_loopback(
    env: dict[str, str], tmp_path: Path, path: str
) -> None:
    api = create_app(env)
    assert api.test_client().get(path).status_code == 404
    exposed = create_demo_app({**env, OUTPOST_DEMO_HOST.name: "0.0.0.0"})
    assert exposed.test_client().get(path).status_code == 404
    demo = create_demo_app({**env, OUTPOST_DEMO_HOST.name: "127.0.0.1"})
    client = demo.test_client()
    assert client.get(path).status_code == 200
    forwarded = client.get(path, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert forwarded.status_code == 404
    # DNS rebinding: the developer's own browser, a loopback client, under another site's name.
    assert client.get(path, headers={"Host": "rebound.example:8000"}).status_code == 404
    assert client.get(path, headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.get(path, headers={"Host": "[::1]:8000"}).status_code == 200
    for app in (api, exposed, demo):
        app.extensions["outpost"].engine.dispose()


def test_the_front_door_leads_to_the_signup_page_on_loopback_only(env: dict[str, str]) -> None:
    demo = create_demo_app({**env, OUTPOST_DEMO_HOST.name: "127.0.0.1"})
    answer = demo.test_client().get("/")
    assert (answer.status_code, answer.headers["Location"]) == (302, "/dev/signup")
    exposed = create_demo_app({**env, OUTPOST_DEMO_HOST.name: "0.0.0.0"})
    assert exposed.test_client().get("/").status_code == 404
    for app in (exposed, demo):
        app.extensions["outpost"].engine.dispose()


def test_a_mail_id_never_reaches_outside_the_mail_directory(demo: Flask) -> None:
    client = demo.test_client()
    for name in ("..%2F..%2Fetc%2Fpasswd", "secret_key", "20261122-100000-0001.eml"):
        assert client.get(f"/dev/mail/{name}").status_code == 404


def _newest_code(page: sync_api.Page, base: str, subject: re.Pattern[str]) -> str:
    """Open the newest caught mail with this subject, once caught, and read its code."""
    link = page.get_by_role("link", name=subject).first
    for _ in range(50):
        page.goto(f"{base}/dev/mail")
        if link.count():
            break
        page.wait_for_timeout(200)
    link.click()
    return page.inner_text("#code")


@contextmanager
def _outpost_up(tmp_path: Path, env: dict[str, str], *arguments: str) -> Iterator[str]:
    """`outpost up` on free ports in `tmp_path`, stopped by Ctrl-C after; its base URL."""
    port = free_port()
    up = processes.start(
        [sys.executable, "-m", "outpost.cli", "up", "--port", str(port), *arguments],
        {"DATABASE_URL": "", "SECRET_KEY": "", "RELAY_METRICS_PORT": "0", **env},
        tmp_path,
        tmp_path / "up.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        processes.wait_http(f"{base}/readyz", up)
        yield base
    finally:
        assert processes.stop(up, signal.SIGINT) == 0


@pytest.mark.long
def test_a_newcomer_signs_up_activates_and_resets_in_chromium(tmp_path: Path) -> None:
    need_a_browser()
    shots = screenshot_dir(tmp_path)
    smtp_port = free_port()
    with _outpost_up(tmp_path, {"SMTP_URL": ""}, "--smtp-port", str(smtp_port)) as base:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1000, "height": 900})
            context.set_default_timeout(10_000)
            signup, mail = context.new_page(), context.new_page()

            def shoot(page: sync_api.Page, name: str) -> None:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            signup.goto(f"{base}/dev/signup")
            signup.fill("#email", "ada@example.com")
            signup.fill("#password", "short")
            signup.get_by_role("button", name="Create my account").click()
            error = signup.locator('#register-form .error[data-for="password"]')
            sync_api.expect(error).to_contain_text("at least 8")
            shoot(signup, "01-sign-up-refused")
            signup.fill("#password", PASSWORD)
            signup.get_by_role("button", name="Create my account").click()
            sync_api.expect(signup.locator("#sent-to")).to_have_text("ada@example.com")
            sync_api.expect(signup.locator("#delivery-status")).to_have_text("sent")
            sync_api.expect(signup.locator("#resend")).to_be_disabled()
            shoot(signup, "02-code-sent")

            code = _newest_code(mail, base, re.compile("Activate"))
            shoot(mail, "03-mail-viewer")
            signup.fill("#code", code)
            signup.get_by_role("button", name="Activate").click()
            sync_api.expect(signup.locator("#active-message")).to_be_visible()
            shoot(signup, "04-active")

            signup.fill("#reset-email", "ada@example.com")
            signup.get_by_role("button", name="Send me a code").click()
            sync_api.expect(signup.locator("#confirm-form")).to_be_visible()
            reset_code = _newest_code(mail, base, re.compile("[Rr]eset"))
            signup.fill("#reset-code", reset_code)
            signup.fill("#new-password", NEW_PASSWORD)
            signup.get_by_role("button", name="Change my password").click()
            sync_api.expect(signup.locator("#reset-done")).to_be_visible()
            shoot(signup, "05-password-changed")
        request = urllib.request.Request(
            f"{base}/v1/logins",
            data=json.dumps({"email": "ada@example.com", "password": NEW_PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["status"] == "active"


def test_the_page_says_to_check_the_address_when_the_provider_refuses_it(
    smtp: SinkServer, tmp_path: Path
) -> None:
    need_a_browser()
    smtp.sink.mode = "reply:550 5.1.1"
    env = {"SMTP_URL": smtp.url()}
    with _outpost_up(tmp_path, env) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.set_default_timeout(10_000)
        page.goto(f"{base}/dev/signup")
        page.fill("#email", "nobody@example.com")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Create my account").click()
        sync_api.expect(page.locator("#delivery-status")).to_have_text("failed")
        sync_api.expect(page.locator("#delivery-problem")).to_be_visible()
        sync_api.expect(page.locator("#sent-lead")).to_have_text("We could not deliver a code to")
        # No countdown toward an address that refused the code.
        sync_api.expect(page.locator("#resend")).to_be_hidden()
        page.screenshot(path=str(screenshot_dir(tmp_path) / "06-address-rejected.png"))
        # Another address, without a reload: the page is the same document, the form empty.
        page.evaluate("window.sameDocument = true")
        page.locator("#activate").get_by_role("button", name="Register another account").click()
        sync_api.expect(page.locator("#email")).to_have_value("")
        smtp.sink.mode = "accept"
        page.fill("#email", "somebody@example.com")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Create my account").click()
        sync_api.expect(page.locator("#sent-to")).to_have_text("somebody@example.com")
        sync_api.expect(page.locator("#delivery-status")).to_have_text("sent")
        sync_api.expect(page.locator("#sent-lead")).to_have_text("We sent a code to")
        sync_api.expect(page.locator("#resend")).to_be_visible()
        sync_api.expect(page.locator("#delivery-problem")).to_be_hidden()
        assert page.evaluate("window.sameDocument") is True


def test_the_page_follows_an_outage_and_a_resend(tmp_path: Path) -> None:
    """While the provider is paused the page says so in words; a resend's new delivery is
    followed, and the page says the older code no longer works, which it does not."""
    need_a_browser()
    server = StagedSmtp()
    server.start()
    server.script.set(mail="451 4.3.0 try later")
    env = {"SMTP_URL": server.url()}
    quick = {"RELAY_BACKOFF_BASE": "0.2", "RELAY_BACKOFF_CAP": "0.5", "THROTTLE_COOLDOWN": "1"}
    try:
        with _outpost_up(tmp_path, {**env, **quick}) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.set_default_timeout(10_000)
            page.goto(f"{base}/dev/signup")
            page.fill("#email", "ada@example.com")
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Create my account").click()
            status = page.locator("#delivery-status")
            sync_api.expect(status).to_contain_text("our mail provider is slow")
            page.screenshot(path=str(screenshot_dir(tmp_path) / "07-provider-slow.png"))
            server.script.set(mail=None)
            sync_api.expect(status).to_have_text("sent")
            old_code = code_in(server.script.wait_for(1)[-1])

            page.get_by_role("button", name="Send a new code").click()
            # The note and the new delivery's status come together: "sent" is the new one's.
            sync_api.expect(page.locator("#resend-note")).to_be_visible()
            sync_api.expect(status).to_have_text("sent")
            new_code = code_in(server.script.wait_for(2)[-1])
            page.screenshot(path=str(screenshot_dir(tmp_path) / "08-new-code.png"))
            if old_code != new_code:
                page.fill("#code", old_code)
                page.get_by_role("button", name="Activate").click()
                refused = page.locator("#activate-form")
                sync_api.expect(refused).to_contain_text("wrong or has expired")
            page.fill("#code", new_code)
            page.get_by_role("button", name="Activate").click()
            sync_api.expect(page.locator("#active-message")).to_be_visible()
    finally:
        server.stop()


def _link_in_newest_mail(mail_dir: Path, subject: str) -> str:
    """The one-click link (CODE_LINK_URL) of the newest caught mail whose subject starts so."""
    for _ in range(100):
        for path in sorted(mail_dir.glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if str(message["Subject"]).startswith(subject):
                text = message.get_body(("plain",))
                assert text is not None
                [link] = re.findall(r"http://127\.0\.0\.1:\d+/dev/signup#\S+", text.get_content())
                return link
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject!r} caught")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_mails_one_click_links_activate_and_reset_in_chromium(
    tmp_path: Path, width: int
) -> None:
    """`outpost up` sets CODE_LINK_URL to the sign-up page: the activation mail's link alone
    makes the account active, the reset mail's opens the new-password form with its code."""
    need_a_browser()
    shots = screenshot_dir(tmp_path)
    address = "ada+links@example.com"
    with _outpost_up(tmp_path, {"SMTP_URL": ""}, "--smtp-port", str(free_port())) as base:
        mail_dir = tmp_path / "var" / "mail"
        answer = processes.post(
            f"{base}/v1/registrations", {"email": address, "password": PASSWORD}
        )
        assert answer.status == 202
        link = _link_in_newest_mail(mail_dir, "Activate")
        assert "purpose=activation" in link and "ada%2Blinks%40example.com" in link
        with chromium() as browser:
            page = browser.new_page(viewport={"width": width, "height": 844})
            page.set_default_timeout(10_000)
            page.goto(link)
            sync_api.expect(page.locator("#active-message")).to_be_visible()
            assert "#" not in page.url, "the code left the address bar"
            page.screenshot(path=str(shots / f"07-link-activated-{width}.png"), full_page=True)

            assert processes.post(f"{base}/v1/password-resets", {"email": address}).status == 202
            page.goto(_link_in_newest_mail(mail_dir, "Reset"))
            sync_api.expect(page.locator("#confirm-form")).to_be_visible()
            page.fill("#new-password", NEW_PASSWORD)
            page.get_by_role("button", name="Change my password").click()
            sync_api.expect(page.locator("#reset-done")).to_be_visible()
            page.screenshot(path=str(shots / f"08-link-reset-{width}.png"), full_page=True)
        signed_in = processes.post(
            f"{base}/v1/logins", {"email": address, "password": NEW_PASSWORD}
        )
        assert signed_in.body["status"] == "active"


def _activated(base: str, mail_dir: Path, address: str) -> None:
    """Register `address` and activate it with its mail's code, which proves the address."""
    assert (
        processes.post(f"{base}/v1/registrations", {"email": address, "password": PASSWORD}).status
        == 202
    )
    code = _code_in_link(_link_to(mail_dir, "Activate", address))
    assert processes.post(f"{base}/v1/activations", {"email": address, "code": code}).status == 200


def _link_to(mail_dir: Path, subject: str, address: str) -> str:
    """The link of the newest mail with this subject, once it is the one to `address`."""
    for _ in range(100):
        link = _link_in_newest_mail(mail_dir, subject)
        if dict(parse_qsl(urlsplit(link).fragment)).get("email") == address:
            return link
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject!r} to {address} caught")


def _code_in_link(link: str) -> str:
    return dict(parse_qsl(urlsplit(link).fragment))["code"]


@pytest.mark.parametrize("width", [390, 1280])
def test_an_active_account_signs_in_with_a_code_typed_or_linked_in_chromium(
    tmp_path: Path, width: int
) -> None:
    """ "Sign in with a code": the code typed from the mail signs in; so does the mail's link."""
    need_a_browser()
    shots = screenshot_dir(tmp_path)
    with _outpost_up(tmp_path, {"SMTP_URL": ""}, "--smtp-port", str(free_port())) as base:
        mail_dir = tmp_path / "var" / "mail"
        _activated(base, mail_dir, "ada+typed@example.com")
        _activated(base, mail_dir, "ada+linked@example.com")
        with chromium() as browser:
            page = browser.new_page(viewport={"width": width, "height": 844})
            page.set_default_timeout(10_000)
            page.goto(f"{base}/dev/signup")
            page.fill("#login-code-email", "ada+typed@example.com")
            page.get_by_role("button", name="Send me a sign-in code").click()
            sync_api.expect(page.locator("#login-confirm-form")).to_be_visible()
            page.screenshot(path=str(shots / f"09-sign-in-code-sent-{width}.png"), full_page=True)
            link = _link_to(mail_dir, "Your Outpost sign-in code", "ada+typed@example.com")
            assert "purpose=login_code" in link
            page.fill("#login-code-value", "000000")
            page.get_by_role("button", name="Sign in with this code").click()
            sync_api.expect(
                page.locator('#login-confirm-form .error[data-for=""]')
            ).not_to_be_empty()
            page.fill("#login-code-value", _code_in_link(link))
            page.get_by_role("button", name="Sign in with this code").click()
            sync_api.expect(page.locator("#code-signed-in")).to_contain_text("Signed in: account")
            page.screenshot(path=str(shots / f"10-signed-in-by-code-{width}.png"), full_page=True)

            asked = processes.post(f"{base}/v1/login-codes", {"email": "ada+linked@example.com"})
            assert asked.status == 202
            page.goto(_link_to(mail_dir, "Your Outpost sign-in code", "ada+linked@example.com"))
            sync_api.expect(page.locator("#code-signed-in")).to_contain_text("Signed in: account")
            assert "#" not in page.url, "the code left the address bar"
            page.screenshot(path=str(shots / f"11-signed-in-by-link-{width}.png"), full_page=True)


def test_the_page_ends_at_sent_whatever_the_providers_receipt_says(tmp_path: Path) -> None:
    """A provider's receipt is the operators' and the applications', never a client's: the page
    and the delivery it follows stay at "sent" (a withheld message never gets a receipt)."""
    need_a_browser()
    token = "receipts-token-0123456789"
    env = {"SMTP_URL": "", "PROVIDER_EVENTS_TOKEN": token}
    up = _outpost_up(tmp_path, env, "--smtp-port", str(free_port()))
    with up as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(10_000)
        page.goto(f"{base}/dev/signup")
        page.fill("#email", "grace@example.com")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Create my account").click()
        sync_api.expect(page.locator("#delivery-status")).to_have_text("sent")
        link = _link_in_newest_mail(tmp_path / "var" / "mail", "Activate")
        [mail] = (tmp_path / "var" / "mail").glob("*.eml")
        message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
        delivery_id = str(message["Message-ID"]).strip("<>").partition("@")[0]
        assert "grace%40example.com" in link
        receipt = processes.post(
            f"{base}/v1/provider-events",
            {"events": [{"type": "delivery", "delivery_id": delivery_id}]},
            {"Authorization": f"Bearer {token}"},
        )
        assert (receipt.status, receipt.body["accepted"]) == (200, 1)
        with urllib.request.urlopen(f"{base}/v1/deliveries/{delivery_id}", timeout=30) as answer:
            shown = json.load(answer)
        assert (shown["status"], "delivered_at" in shown) == ("sent", False)
        page.wait_for_timeout(2500)
        sync_api.expect(page.locator("#delivery-status")).to_have_text("sent")
        page.screenshot(path=str(screenshot_dir(tmp_path) / "09-sent-after-receipt.png"))
