"""Encryption under subkeys of SECRET_KEY and its fallbacks: the secret parameters an outbox row
carries until it is delivered, and tokens that must tell nothing, not even their age or length."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.codes import derive_key

OUTBOX_SECRETS = "outpost/outbox-secrets"
# Bytes of an AES-GCM token's random nonce, and of its authentication tag.
_NONCE = 12
_TAG = 16


class SealedUnderOtherKey(Exception):
    """A token none of this process's keys (SECRET_KEY, SECRET_KEY_FALLBACKS) opens."""


def subkeys(secret_keys: Sequence[str], label: str) -> list[bytes]:
    """Each key's subkey for the use `label` names, newest first: the first seals, and any of
    them opens (a rotation in progress)."""
    return [derive_key(key, label) for key in secret_keys]


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) under keys derived from SECRET_KEY and its fallbacks.

    Seals under the first key; opens what any of them sealed (a rotation in progress).
    """

    def __init__(self, *secret_keys: str, label: str = OUTBOX_SECRETS) -> None:
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(key)) for key in subkeys(secret_keys, label)]
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


class PaddedBox:
    """AES-256-GCM under the same keys, over a text padded to `size` bytes, with a random nonce.

    Every token is as long as every other and holds nothing but the nonce and the ciphertext:
    a Fernet token carries the time it was made in clear, and its length follows the text's.
    """

    def __init__(self, *secret_keys: str, label: str, size: int) -> None:
        self._ciphers = [AESGCM(key) for key in subkeys(secret_keys, label)]
        self._size = size

    def seal(self, text: str) -> str:
        """Encrypt `text`, at most `size` bytes in UTF-8 and no NUL, to a URL-safe token."""
        data = text.encode()
        if len(data) > self._size or b"\0" in data:
            raise ValueError(f"a text of at most {self._size} bytes, without NUL")
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[0].encrypt(nonce, data.ljust(self._size, b"\0"), None)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str) -> str:
        """The text of a token `seal` made under any of the keys."""
        try:
            raw = base64.urlsafe_b64decode(token)
        except ValueError:
            raw = b""
        if len(raw) == _NONCE + self._size + _TAG:
            for cipher in self._ciphers:
                try:
                    return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], None).rstrip(b"\0").decode()
                except InvalidTag:
                    continue
        raise SealedUnderOtherKey("sealed under a key this process does not hold")
