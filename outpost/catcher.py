"""A local SMTP catcher for the demo stack: every mail becomes a file under var/mail/, but for the
demo addresses that play a provider's refusals (`bounce…` refused once, `later…` deferred a
minute) and a smarthost's later report (`bounce-later…` taken, then reported undeliverable by a
delivery status notification to the envelope sender)."""

from __future__ import annotations

import email
import email.policy
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

# Local parts that play a refusal, so that the demo shows every path a message can take.
BOUNCE_PREFIX = "bounce"
LATER_PREFIX = "later"
# Taken with 250, then reported as a smarthost reports the next server's refusal.
BOUNCE_LATER_PREFIX = "bounce-later"
LATER_SECONDS = 60.0
# How long after taking a `bounce-later…` mail its report goes: the client sees `sent` first.
REPORT_SECONDS = 3.0
BOUNCE_REPLY = "550 5.1.1 No such mailbox (demo: bounce address)"
LATER_REPLY = "451 4.7.1 Try again in a minute (demo: later address)"
REPORT_DIAGNOSTIC = "smtp; 550 5.1.1 No such mailbox (demo: bounce-later address)"
_BOUNDARY = "outpost-demo-report"

# Hands a report (a mail's bytes) to Outpost as having come to an address (the envelope sender).
Reporter = Callable[[bytes, str], None]


def delivery_report(sender: str, recipient: str, original: bytes) -> bytes:
    """The delivery status notification (RFC 3464) a smarthost sends `sender` when the next
    server refused `recipient`: the original's headers quoted, never its text."""
    headers = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    text = f"""From: Mail Delivery System <MAILER-DAEMON@localhost>
To: <{sender}>
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{_BOUNDARY}"

--{_BOUNDARY}
Content-Type: text/plain

The demo catcher took this mail for <{recipient}>, then found no such mailbox.

--{_BOUNDARY}
Content-Type: message/delivery-status

Reporting-MTA: dns; localhost

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: {REPORT_DIAGNOSTIC}

--{_BOUNDARY}
Content-Type: text/rfc822-headers

{headers}

--{_BOUNDARY}--
"""
    return text.replace("\n", "\r\n").encode()


class MailDir:
    """aiosmtpd handler writing each message to `<dir>/<time>-<n>.eml` and printing a line."""

    def __init__(
        self,
        directory: Path,
        later_seconds: float = LATER_SECONDS,
        report: Reporter | None = None,
        report_seconds: float = REPORT_SECONDS,
    ) -> None:
        self.directory = directory
        self.later_seconds = later_seconds
        self.report = report
        self.report_seconds = report_seconds
        self._numbers = itertools.count(1)
        self._first_tries: dict[str, float] = {}
        self._bounced: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.refusal(address)
        if refusal is not None:
            print(f"mail to {address} refused: {refusal}", flush=True)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def refusal(self, address: str) -> str | None:
        """The reply a demo address plays at RCPT, or None to accept it.

        A `bounce…` address refuses its first message only: once an operator lifts its
        suppression and reissues, the mail arrives, as it would once a user fixed the mailbox.
        """
        local = address.rpartition("@")[0].lower()
        if local.startswith(BOUNCE_LATER_PREFIX):
            return None
        if local.startswith(BOUNCE_PREFIX) and address.lower() not in self._bounced:
            self._bounced.add(address.lower())
            return BOUNCE_REPLY
        if local.startswith(LATER_PREFIX):
            now = time.monotonic()
            first = self._first_tries.setdefault(address.lower(), now)
            if now - first < self.later_seconds:
                return LATER_REPLY
        return None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):04d}.eml"
        path.write_bytes(envelope.original_content)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']} -> {path}", flush=True)
        for recipient in envelope.rcpt_tos:
            if recipient.lower().startswith(BOUNCE_LATER_PREFIX) and envelope.mail_from:
                self._report_later(envelope.mail_from, recipient, envelope.original_content)
        return "250 Message accepted"

    def _report_later(self, sender: str, recipient: str, original: bytes) -> None:
        """In `report_seconds`, report `recipient` undeliverable to `sender`: kept beside the
        caught mail, and handed to Outpost (`report`)."""
        raw = delivery_report(sender, recipient, original)

        def send() -> None:
            path = (
                self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):04d}.eml"
            )
            path.write_bytes(raw)
            print(f"mail to {recipient} reported undeliverable to {sender} -> {path}", flush=True)
            if self.report is not None:
                self.report(raw, sender)

        timer = threading.Timer(self.report_seconds, send)
        timer.daemon = True
        timer.start()


def start_catcher(
    directory: Path,
    host: str,
    port: int,
    later_seconds: float = LATER_SECONDS,
    report: Reporter | None = None,
    report_seconds: float = REPORT_SECONDS,
) -> Controller:
    """Listen on host:port until the returned controller is stopped; `bounce-later…` mail is
    reported to `report`."""
    # aiosmtpd loads for `outpost up` only, not for the commands beside it.
    from aiosmtpd.controller import Controller

    handler = MailDir(directory, later_seconds, report, report_seconds)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller
