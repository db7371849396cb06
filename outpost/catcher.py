"""A local SMTP catcher for the demo stack: every mail becomes a file under var/mail/, but for the
demo addresses that play a provider's refusals (`bounce…` refused once, `later…` deferred a
minute)."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

# Local parts that play a refusal, so that the demo shows every path a message can take.
BOUNCE_PREFIX = "bounce"
LATER_PREFIX = "later"
LATER_SECONDS = 60.0
BOUNCE_REPLY = "550 5.1.1 No such mailbox (demo: bounce address)"
LATER_REPLY = "451 4.7.1 Try again in a minute (demo: later address)"


class MailDir:
    """aiosmtpd handler writing each message to `<dir>/<time>-<n>.eml` and printing a line."""

    def __init__(self, directory: Path, later_seconds: float = LATER_SECONDS) -> None:
        self.directory = directory
        self.later_seconds = later_seconds
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
        return "250 Message accepted"


def start_catcher(
    directory: Path, host: str, port: int, later_seconds: float = LATER_SECONDS
) -> Controller:
    """Listen on host:port until the returned controller is stopped."""
    # aiosmtpd loads for `outpost up` only, not for the commands beside it.
    from aiosmtpd.controller import Controller

    controller = Controller(MailDir(directory, later_seconds), hostname=host, port=port)
    controller.start()
    return controller
