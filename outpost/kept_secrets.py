"""The demo's generated secrets, each kept in a file of its own under var/ (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = Path("var") / "secret_key"
ADMIN_TOKEN_FILE = Path("var") / "admin_token"


def kept_secret(path: Path) -> str:
    """The secret kept in `path`, made and written there (readable by its owner only) if absent.

    Kept, not made afresh: codes stay valid and dashboard sessions open across restarts.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret)
    return secret
