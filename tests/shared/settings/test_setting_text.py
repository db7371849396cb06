"""URLs and names in the settings refuse what would break a line where they are written (a
template, a header): CR, LF, U+2028, U+2029 and every other control character, at start, with
one line naming the variable."""

from __future__ import annotations

import pytest

from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import SECRET_KEY

BREAKS = ["\r\n", "\n", "\u2028", "\u2029", "\x00", "\u202e", " "]
URLS = ["APP_URL", "LOGO_URL", "PUBLIC_URL", "WEBHOOK_URL"]


@pytest.mark.parametrize("variable", URLS)
@pytest.mark.parametrize("brk", BREAKS)
def test_a_url_setting_with_a_line_break_or_control_stops_the_process(
    variable: str, brk: str
) -> None:
    env = {"SECRET_KEY": SECRET_KEY, variable: f"https://app.example.com/{brk}Bcc: x"}
    if variable == "WEBHOOK_URL":
        env["WEBHOOK_SECRET"] = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert str(refused.value).startswith(f"{variable}:")
    assert "\n" not in str(refused.value).replace("\\n", "")


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\r", "\x85"])
def test_a_name_setting_with_a_line_break_stops_the_process(brk: str) -> None:
    for variable, value in (
        ("PRODUCT_NAME", f"Acme{brk}Cloud"),
        ("MAIL_FROM", f"Ac{brk}me <a@b.test>"),
    ):
        with pytest.raises(ConfigError) as refused:
            Settings.from_env({"SECRET_KEY": SECRET_KEY, variable: value})
        assert str(refused.value).startswith(f"{variable}:")


def test_clean_urls_and_names_still_start() -> None:
    settings = Settings.from_env(
        {
            "SECRET_KEY": SECRET_KEY,
            "APP_URL": "https://app.example.com/activate?from=mail#top",
            "PRODUCT_NAME": "Acme Cloud — Zoé",
        }
    )
    assert settings.branding.app_url == "https://app.example.com/activate?from=mail#top"
