"""Headless Debian Chromium for the browser tests, and where their screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
