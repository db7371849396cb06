"""Counting SMS text in GSM-7 and UCS-2 segments; what `outpost templates check` says of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbox_relay.render import Templates, samples
from outpost.cli import main
from outpost.preview import sms_segments
from shared.messaging.outbox import CODED, PURPOSES
from shared.messaging.sms_autofill import SmsAutofill
from shared.messaging.sms_segments import Encoding, Segments, segments

GSM, UCS = Encoding.GSM_7, Encoding.UCS_2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segments(GSM, 0, 1)),
        ("a" * 160, Segments(GSM, 160, 1)),
        ("a" * 161, Segments(GSM, 161, 2)),
        ("a" * 306, Segments(GSM, 306, 2)),
        ("a" * 307, Segments(GSM, 307, 3)),
        # é, è, à and Ç are in the GSM-7 alphabet; ê and ç are not.
        ("é" * 160, Segments(GSM, 160, 1)),
        ("Ça va à l'école" + "è", Segments(GSM, 16, 1)),
        ("ê", Segments(UCS, 1, 1)),
        ("ç", Segments(UCS, 1, 1)),
        ("ê" * 70, Segments(UCS, 70, 1)),
        ("ê" * 71, Segments(UCS, 71, 2)),
        ("ê" * 134, Segments(UCS, 134, 2)),
        ("ê" * 135, Segments(UCS, 135, 3)),
        # The extension table: an escape and the character, two septets each.
        ("€", Segments(GSM, 2, 1)),
        ("€" * 80, Segments(GSM, 160, 1)),
        ("€" * 81, Segments(GSM, 162, 2)),
        ("[]{}~|^\\", Segments(GSM, 16, 1)),
        # 152 septets, then a 2-septet character that would straddle the 153 boundary.
        ("a" * 152 + "€" + "a" * 10, Segments(GSM, 164, 2)),
        ("a" * 152 + "€" + "a" * 152, Segments(GSM, 306, 3)),
        # An emoji is two UTF-16 units, never split between parts.
        ("🙂", Segments(UCS, 2, 1)),
        ("🙂" * 35, Segments(UCS, 70, 1)),
        ("🙂" * 36, Segments(UCS, 72, 2)),
        ("a" * 66 + "🙂" + "a" * 66, Segments(UCS, 134, 3)),
    ],
)
def test_known_cases(text: str, expected: Segments) -> None:
    assert segments(text) == expected


# Every packaged SMS rendered with the default product name and a 6-digit code: the English in
# one GSM-7 segment, the French in one segment even sent as UCS-2 (70 UTF-16 units), as a
# provider sending French as unicode would.
PACKAGED = {
    "activation/en/sms.txt": Segments(GSM, 112, 1),
    "activation/fr/sms.txt": Segments(GSM, 64, 1),
    "password_reset/en/sms.txt": Segments(GSM, 105, 1),
    "password_reset/fr/sms.txt": Segments(GSM, 69, 1),
    "password_changed/en/sms.txt": Segments(GSM, 114, 1),
    "password_changed/fr/sms.txt": Segments(GSM, 65, 1),
    "welcome/en/sms.txt": Segments(GSM, 79, 1),
    "welcome/fr/sms.txt": Segments(GSM, 63, 1),
    "account_exists/en/sms.txt": Segments(GSM, 132, 1),
    "account_exists/fr/sms.txt": Segments(GSM, 68, 1),
    "no_account/en/sms.txt": Segments(GSM, 115, 1),
    "no_account/fr/sms.txt": Segments(GSM, 62, 1),
    "address_change/en/sms.txt": Segments(GSM, 114, 1),
    "address_change/fr/sms.txt": Segments(GSM, 66, 1),
    "address_changed/en/sms.txt": Segments(GSM, 96, 1),
    "address_changed/fr/sms.txt": Segments(GSM, 69, 1),
    "login_code/en/sms.txt": Segments(GSM, 98, 1),
    "login_code/fr/sms.txt": Segments(GSM, 55, 1),
}


def test_every_packaged_sms_takes_one_segment_the_french_even_as_ucs2() -> None:
    templates = Templates()
    assert sms_segments(templates) == PACKAGED
    for purpose in PURPOSES:
        text = templates.sms(purpose, "fr", samples(purpose))
        assert len(text.encode("utf-16-le")) // 2 <= 70, text


# The longest WEBOTP_DOMAIN with which every packaged SMS still takes one segment, Android's
# app hash after it (docs/sms.md says so).
LONGEST_DOMAIN = "accounts.example-app.com"
APP_HASH = "FA+9qCX9VSu"


def test_every_packaged_sms_takes_one_segment_with_the_webotp_line_and_the_app_hash() -> None:
    autofill = SmsAutofill(webotp_domain=LONGEST_DOMAIN, app_hash=APP_HASH)
    counted = sms_segments(Templates(), autofill)
    assert {name: c.count for name, c in counted.items()} == dict.fromkeys(PACKAGED, 1)
    for name, plain in PACKAGED.items():
        coded = name.split("/")[0] in CODED
        added = len(f"\n@{LONGEST_DOMAIN} #123456 {APP_HASH}") if coded else 0
        assert counted[name].units == plain.units + added, name
    # A character more and the longest takes two.
    assert max(c.units for c in counted.values()) == 160


def test_the_check_counts_the_lines_that_end_a_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBOTP_DOMAIN", LONGEST_DOMAIN + "x")
    monkeypatch.setenv("SMS_APP_HASH", APP_HASH)
    assert main(["templates", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "address_change/en/sms.txt: 2 segments, GSM-7 (161 septets)" in lines
    assert "welcome/en/sms.txt: 1 segment, GSM-7 (79 septets)" in lines


def test_the_check_prints_each_sms_and_warns_past_two_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "welcome" / "fr").mkdir(parents=True)
    long = tmp_path / "welcome" / "fr" / "sms.txt"
    long.write_text("Bienvenue sur {{ product_name }} ! " + "Vous êtes inscrit. " * 8)
    monkeypatch.setenv("TEMPLATES_DIR", str(tmp_path))
    assert main(["templates", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "activation/fr/sms.txt: 1 segment, GSM-7 (64 septets)" in lines
    assert f"warning: {long}: 3 segments, UCS-2 (175 UTF-16 units), past 2 (each billed)" in lines
    assert lines[-1].endswith("0 failing")
