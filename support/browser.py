"""Headless Debian Chromium for the browser tests, and where their screenshots go."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright import sync_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot_dir(tmp_path: Path) -> Path:
    """OUTPOST_SCREENSHOTS if set, else the test's own directory."""
    chosen = Path(os.environ.get("OUTPOST_SCREENSHOTS") or tmp_path / "screenshots")
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen


def need_a_browser() -> None:
    """Fail, never skip, without Debian's chromium (.ci/run installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")


@contextmanager
def chromium() -> Iterator[sync_api.Browser]:
    """Debian's Chromium, headless, closed after; the test fails, never skips, without it."""
    need_a_browser()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
