"""The sign-up page's help with a code on its way, in headless Chromium: a mistyped domain's
did-you-mean changed in one click (at a phone's and a desktop's width), and a texted code read
with the WebOTP API where the browser offers it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api
from sqlalchemy import Engine

from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.settings.processes import OUTPOST_DEMO_HOST, OUTPOST_DEMO_MAIL_DIR
from support import processes
from support.browser import chromium, screenshot_dir
from support.constants import PASSWORD
from support.ports import free_port
from support.rows import rows

SCREENS = {"phone": (390, 844), "desktop": (1280, 800)}
# Chrome on Android as WebOTP shows itself to a page: `OTPCredential`, and a credentials.get
# that resolves once an SMS for this origin arrives, which the test texts with `__text(code)`.
# Not `offered`: a browser without WebOTP (headless Chromium has `OTPCredential` but no SMS),
# the spy saying whether the page asked all the same.
WEBOTP = """offered => {
  window.__asked = [];
  if (offered) window.OTPCredential = function OTPCredential() {};
  else delete window.OTPCredential;
  const get = (options) => new Promise((resolve, reject) => {
    window.__asked.push(JSON.stringify(options.otp));
    window.__text = (code) => resolve({ type: "otp", id: "", code });
    options.signal.addEventListener("abort", () => reject(new DOMException("", "AbortError")));
  });
  Object.defineProperty(navigator.credentials, "get", { value: get });
}"""


@pytest.fixture
def demo(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The demo's pages and the API, served as `outpost up` serves them; their base URL."""
    port = free_port()
    demo_env = {
        **env,
        OUTPOST_DEMO_MAIL_DIR.name: str(tmp_path / "mail"),
        OUTPOST_DEMO_HOST.name: "127.0.0.1",
    }
    server = processes.gunicorn(demo_env, port, tmp_path, "outpost.demo:create_demo_app()")
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        assert processes.stop(server) == 0


@pytest.fixture
def page() -> Iterator[sync_api.Page]:
    """A page of headless Chromium."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(10_000)
        yield page


def _register(page: sync_api.Page, base: str, email: str) -> None:
    page.goto(f"{base}/dev/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    sync_api.expect(page.locator("#sent-to")).to_have_text(email)


@pytest.mark.postgresql_only
def test_a_mistyped_domain_is_suggested_and_changed_in_one_click(
    demo: str, page: sync_api.Page, engine: Engine, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    for screen, (width, height) in SCREENS.items():
        page.set_viewport_size({"width": width, "height": height})
        _register(page, demo, f"{screen}@gmial.com")
        offer = page.locator("#suggestion")
        sync_api.expect(offer).to_have_text(f"Did you mean {screen}@gmail.com? Change it")
        page.screenshot(path=str(shots / f"{screen}-signup-suggestion.png"), full_page=True)
        offer.get_by_role("button", name="Change it").click()
        sync_api.expect(page.locator("#sent-to")).to_have_text(f"{screen}@gmail.com")
        sync_api.expect(offer).to_be_hidden()
        page.screenshot(path=str(shots / f"{screen}-signup-suggestion-taken.png"), full_page=True)
    changes = [row for row in rows(engine, "outbox") if row["purpose"] == "address_change"]
    assert sorted(row["recipient"] for row in changes) == [
        "desktop@gmail.com",
        "phone@gmail.com",
    ]


@pytest.mark.postgresql_only
def test_a_texted_code_is_read_with_webotp_and_activates(
    demo: str, page: sync_api.Page, engine: Engine, settings: Settings
) -> None:
    page.add_init_script(f"({WEBOTP})(true)")
    _register(page, demo, "ada@example.com")
    page.wait_for_function("() => window.__text !== undefined")
    assert page.evaluate("window.__asked") == ['{"transport":["sms"]}']
    [row] = rows(engine, "outbox")
    code = SecretBox(settings.secret_key).open(row["secret_params"])["code"]
    page.evaluate("code => window.__text(code)", code)
    sync_api.expect(page.locator("#active-message")).to_be_visible()
    assert [user["status"] for user in rows(engine, "users")] == ["active"]


@pytest.mark.postgresql_only
def test_without_webotp_or_a_mistyped_domain_the_page_neither_asks_nor_suggests(
    demo: str, page: sync_api.Page
) -> None:
    page.add_init_script(f"({WEBOTP})(false)")
    _register(page, demo, "ada@example.com")
    sync_api.expect(page.locator("#suggestion")).to_be_hidden()
    assert page.evaluate("window.__asked") == []
