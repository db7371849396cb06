"""BOUNCE_MAILBOX: `imaps://USER:PASSWORD@HOST[:PORT]/FOLDER`, the mailbox the relay reads
reports by mail from."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Mailbox:
    """Where reports by mail wait: an IMAP server over TLS (always verified), its login, and
    the folder read."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str


def parse_bounce_mailbox(value: str) -> Mailbox:
    """`imaps://USER:PASSWORD@HOST[:PORT]/FOLDER` (user and password percent-decoded; the
    folder `INBOX` when the path is empty)."""
    parts = urlsplit(value.strip())
    if parts.scheme != "imaps":
        raise ValueError("an imaps:// URL (IMAP over TLS: no password goes in clear)")
    if not parts.username or parts.password is None or not parts.hostname:
        raise ValueError("imaps://USER:PASSWORD@HOST[:PORT]/FOLDER, with a user and a password")
    try:
        port = parts.port or 993
    except ValueError:
        raise ValueError("a port from 1 to 65535") from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if any(c in folder for c in '\r\n"\\'):
        raise ValueError("a folder name without quotes, backslashes or line breaks")
    return Mailbox(
        parts.hostname,
        port,
        unquote(parts.username),
        unquote(parts.password),
        folder,
    )
