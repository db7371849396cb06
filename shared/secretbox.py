"""Encryption of the secret parameters an outbox row carries until it is delivered."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet

from shared.codes import derive_key


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        key = derive_key(secret_key, "outpost/outbox-secrets")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, params: dict[str, Any]) -> str:
        """Encrypt a mapping to a text token."""
        return self._fernet.encrypt(json.dumps(params).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt a token made by `seal`."""
        value = json.loads(self._fernet.decrypt(token.encode()))
        assert isinstance(value, dict)
        return value
