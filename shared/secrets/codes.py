"""One-time codes: drawn from `secrets`, stored only as an HMAC keyed by SECRET_KEY."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from enum import StrEnum

from shared.vocabulary import Purpose

# Wrong tries a code survives; the next attempt is refused whatever it carries.
MAX_CODE_TRIES = 5


class CodeStatus(StrEnum):
    """A code's state: active until it is used, superseded by a newer one, or dead of too many
    wrong tries (a code with a link token never dies of them: its token still works)."""

    ACTIVE = "active"
    USED = "used"
    SUPERSEDED = "superseded"
    DEAD = "dead"


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def new_link_token() -> str:
    """A code's link token (CODE_LINK_URL's `{token}`): 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def derive_key(secret_key: str, label: str) -> bytes:
    """A subkey of SECRET_KEY for one use, so one key never serves two purposes."""
    return hmac.new(secret_key.encode(), label.encode(), hashlib.sha256).digest()


def code_hmac(secret_key: str, user_id: int, purpose: Purpose, code: str) -> str:
    """The stored form of a code, bound to its user and purpose."""
    key = derive_key(secret_key, "outpost/code-hmac")
    message = f"{purpose}:{user_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def code_matches(
    secret_keys: Sequence[str], user_id: int, purpose: Purpose, code: str, stored: str
) -> bool:
    """Whether `code` is the one whose HMAC is `stored` under any of the keys.

    Every key is tried, each compared in constant time: a wrong code costs the same whatever
    key made the stored HMAC.
    """
    matches = [
        hmac.compare_digest(code_hmac(key, user_id, purpose, code), stored) for key in secret_keys
    ]
    return any(matches)
