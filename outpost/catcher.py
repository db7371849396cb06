"""A local SMTP catcher for the demo stack: every mail becomes a file under var/mail/."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MailDir:
    """aiosmtpd handler writing each message to `<dir>/<time>-<n>.eml` and printing a line."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):04d}.eml"
        path.write_bytes(envelope.original_content)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']} -> {path}", flush=True)
        return "250 Message accepted"


def start_catcher(directory: Path, host: str, port: int) -> Controller:
    """Listen on host:port until the returned controller is stopped."""
    controller = Controller(MailDir(directory), hostname=host, port=port)
    controller.start()
    return controller
