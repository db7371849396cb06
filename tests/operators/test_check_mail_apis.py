"""`outpost check` with MAIL_URL: each mail slot's provider reached by the read its API
documents, nothing sent, never the key in a line; a slot filled twice refused in one line. The
APIs are the stand-ins built from each provider's documentation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.checks import outpost_check
from support.mail_stand_in import MailStandIn
from support.postmark_api import PostmarkApi
from support.sendgrid_api import SendGridApi


@pytest.fixture
def apis() -> Iterator[tuple[MailStandIn, MailStandIn]]:
    """Postmark and SendGrid stand-ins, listening."""
    served = (PostmarkApi(), SendGridApi())
    for api in served:
        api.start()
    yield served
    for api in served:
        api.stop()


def without_smtp(base: dict[str, str]) -> dict[str, str]:
    """The environment that holds, its SMTP_URL left out."""
    return {name: value for name, value in base.items() if name != "SMTP_URL"}


def test_each_api_slot_is_reached_without_sending(
    base: dict[str, str],
    database_url: str,
    apis: tuple[MailStandIn, MailStandIn],
    tmp_path: Path,
) -> None:
    postmark, sendgrid = apis
    env = {
        **without_smtp(base),
        "DATABASE_URL": database_url,
        "MAIL_URL": postmark.mail_url(),
        "MAIL_FALLBACK_URL": sendgrid.mail_url(),
    }
    done = outpost_check(env, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert (
        f"outpost check: MAIL_URL postmark http://127.0.0.1:{postmark.port}: ok, Postmark "
        "reached and the key taken; no mail sent"
    ) in lines
    assert (
        f"outpost check: MAIL_FALLBACK_URL sendgrid http://127.0.0.1:{sendgrid.port}: ok, "
        "SendGrid reached and the key taken; no mail sent"
    ) in lines
    assert postmark.sent == sendgrid.sent == []
    assert [r.method for r in postmark.requests + sendgrid.requests] == ["GET", "GET"]
    assert postmark.key not in done.stdout and sendgrid.key not in done.stdout


def test_a_wrong_key_is_one_line_without_the_key(
    base: dict[str, str], apis: tuple[MailStandIn, MailStandIn], tmp_path: Path
) -> None:
    postmark, _ = apis
    wrong = "wrong-server-token-0123"
    done = outpost_check({**without_smtp(base), "MAIL_URL": postmark.mail_url(wrong)}, tmp_path)
    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if "MAIL_URL" in line]
    assert line.startswith(f"outpost check: MAIL_URL postmark http://127.0.0.1:{postmark.port}: ")
    assert "Postmark 10 (HTTP 401) bad or missing server token" in line
    assert wrong not in done.stdout + done.stderr and postmark.sent == []


def test_a_slot_filled_twice_stops_at_the_configuration(
    base: dict[str, str], apis: tuple[MailStandIn, MailStandIn], tmp_path: Path
) -> None:
    postmark, _ = apis
    done = outpost_check({**base, "MAIL_URL": postmark.mail_url()}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "outpost check: configuration: MAIL_URL: the same slot as SMTP_URL, which is set too: "
        "keep one of them"
    ]
    assert postmark.requests == []


def test_send_test_hands_one_real_mail_to_the_api(
    base: dict[str, str], apis: tuple[MailStandIn, MailStandIn], tmp_path: Path
) -> None:
    postmark, _ = apis
    env = {**without_smtp(base), "MAIL_URL": postmark.mail_url()}
    done = outpost_check(env, tmp_path, "--send-test", "ada@example.com")
    [line] = [line for line in done.stdout.splitlines() if "test mail" in line]
    assert line == (
        f"outpost check: MAIL_URL postmark http://127.0.0.1:{postmark.port}: test mail to "
        f"ada@example.com: ok, the API took it (its id: {postmark.sent[0]}); see that it arrives"
    )
    assert postmark.problems == [] and postmark.requests[-1].json["To"] == "ada@example.com"
