"""The demo's SMTP catcher: it keeps every mail, but for the demo addresses that play a provider's
refusals (`bounce…` refused once, `later…` deferred a minute from its first try) and a
smarthost's later report (`bounce-later…` taken, then reported by DSN)."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine

from outpost.catcher import start_catcher
from outpost.stack import hand_report
from shared.settings.smtp_url import parse_smtp_url
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.ports import free_port
from support.processes import eventually
from support.rows import rows

LATER_SECONDS = 1.0


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    controller = start_catcher(tmp_path / "mail", "127.0.0.1", port, LATER_SECONDS)
    yield port
    controller.stop()


def _send(port: int, to: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "demo@localhost", to, "Hello"
    message.set_content("Hello.")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(message)


def _refusal(port: int, to: str) -> tuple[int, bytes] | None:
    try:
        _send(port, to)
    except smtplib.SMTPRecipientsRefused as exc:
        return exc.recipients[to]
    return None


def test_an_ordinary_address_is_caught_into_the_mail_directory(
    catcher: int, tmp_path: Path
) -> None:
    assert _refusal(catcher, "ada@example.com") is None
    [caught] = (tmp_path / "mail").glob("*.eml")
    assert b"To: ada@example.com" in caught.read_bytes()


def test_a_bounce_address_refuses_its_first_message_as_no_such_mailbox(
    catcher: int, tmp_path: Path
) -> None:
    """Refused once, so that the repair an operator makes (lift, reissue) ends with the mail."""
    addresses = ("bounce@example.com", "Bounce+2@example.com", "bounced.ada@example.com")
    for to in addresses:
        refused = _refusal(catcher, to)
        assert refused is not None and refused[0] == 550
        assert refused[1].startswith(b"5.1.1 ")
    assert not (tmp_path / "mail").exists()
    for to in addresses:
        assert _refusal(catcher, to) is None
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3
    # Only the local part counts.
    assert _refusal(catcher, "ada@bounce.example.com") is None


def test_a_later_address_is_deferred_until_a_while_after_its_own_first_try(
    catcher: int, tmp_path: Path
) -> None:
    refused = _refusal(catcher, "later@example.com")
    assert refused is not None and refused[0] == 451 and refused[1].startswith(b"4.7.1 ")
    time.sleep(LATER_SECONDS / 2)
    assert _refusal(catcher, "later@example.com") is not None
    # Each address has its own first try.
    assert _refusal(catcher, "later.too@example.com") is not None
    time.sleep(LATER_SECONDS / 2 + 0.1)
    assert _refusal(catcher, "later@example.com") is None
    assert _refusal(catcher, "later.too@example.com") is not None
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


def test_a_bounce_later_address_is_taken_then_reported_undeliverable(
    env: dict[str, str], engine: Engine, make_relay: MakeRelay, tmp_path: Path
) -> None:
    """Taken with 250 (the message reads sent), then reported by DSN to its envelope sender,
    which `outpost up` hands to `outbox-relay bounce`: failed, the address suppressed."""
    port, bounces = free_port(), "bounces@localhost"
    report = partial(hand_report, {**env, "BOUNCE_ADDRESS": bounces})
    mail = tmp_path / "mail"
    controller = start_catcher(mail, "127.0.0.1", port, report=report, report_seconds=0.5)
    try:
        queue_emails(engine, 1, prefix="bounce-later", domain="example.com")
        smtp = parse_smtp_url(f"smtp://127.0.0.1:{port}")
        make_relay(smtp=smtp, bounce_address=bounces).drain()
        [row] = rows(engine, "outbox")
        assert row["status"] == "sent"
        eventually(lambda: rows(engine, "outbox")[0]["status"] == "bounced", 20, "reported")
    finally:
        controller.stop()
    assert [s["address"] for s in rows(engine, "suppressions")] == ["bounce-later0@example.com"]
    reports = [p for p in mail.glob("*.eml") if b"report-type=delivery-status" in p.read_bytes()]
    assert len(reports) == 1 and len(list(mail.glob("*.eml"))) == 2
