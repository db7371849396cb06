"""Encryption of the secret parameters an outbox row carries until it is delivered."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.codes import derive_key

OUTBOX_SECRETS = "outpost/outbox-secrets"


class SealedUnderOtherKey(Exception):
    """A token none of this process's keys (SECRET_KEY, SECRET_KEY_FALLBACKS) opens."""


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) under keys derived from SECRET_KEY and its fallbacks.

    Seals under the first key; opens what any of them sealed (a rotation in progress).
    """

    def __init__(self, *secret_keys: str, label: str = OUTBOX_SECRETS) -> None:
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive_key(key, label))) for key in secret_keys]
        )

    def seal(self, params: dict[str, Any]) -> str:
        """Encrypt a mapping to a text token."""
        return self._fernet.encrypt(json.dumps(params).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt a token made by `seal` under any of the keys."""
        try:
            value = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SealedUnderOtherKey("sealed under a key this process does not hold") from None
        assert isinstance(value, dict)
        return value
