"""Encryption under subkeys of SECRET_KEY and its fallbacks: the secret parameters an outbox row
carries until it is delivered, and tokens that must tell nothing, not even their age or length."""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.secrets.codes import derive_key

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
        keys = subkeys(secret_keys, label)
        self._sealer = Fernet(base64.urlsafe_b64encode(keys[0]))
        self._openers = [_FernetOpener(key) for key in keys]

    def seal(self, params: dict[str, Any]) -> str:
        """Encrypt a mapping to a text token."""
        return self._sealer.encrypt(json.dumps(params).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt a token made by `seal` under any of the keys."""
        data = _fernet_bytes(token)
        for opener in self._openers:
            plain = opener.open(data)
            if plain is not None:
                value = json.loads(plain)
                assert isinstance(value, dict)
                return value
        raise SealedUnderOtherKey("sealed under a key this process does not hold")


# Fernet's token (its specification): a version byte, a time, an IV, the AES-128-CBC ciphertext
# of the PKCS #7 padded text, and an HMAC-SHA256 of all that.
_VERSION = 0x80
_IV_AT, _CIPHERTEXT_AT = 9, 25
_BLOCK, _MAC = 16, 32
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _fernet_bytes(token: str) -> bytes:
    """The bytes of a token shaped as Fernet's (its length and version), else b""."""
    if not token.isascii():
        return b""
    try:
        data = binascii.a2b_base64(token.encode().translate(_URLSAFE))
    except binascii.Error:
        return b""
    shaped = (
        len(data) >= _CIPHERTEXT_AT + _BLOCK + _MAC
        and (len(data) - _CIPHERTEXT_AT - _MAC) % _BLOCK == 0
        and data[0] == _VERSION
    )
    return data if shaped else b""


class _FernetOpener:
    """Opens the Fernet tokens of one key as Fernet.decrypt does without a TTL: the HMAC
    checked first, in constant time, then the ciphertext decrypted and unpadded.

    Fernet.decrypt builds a CBC cipher, an HMAC and an unpadder for every token, most of what
    opening a row's code cost a relay; here a copy of an HMAC keyed once checks the token, and
    one AES context a thread decrypts its blocks (ECB), each XORed with the one before, which
    is CBC's decryption. Not the standard library's `hmac.digest`: it lets go of the
    interpreter's lock, and a sender then waits for it again.
    """

    def __init__(self, key: bytes) -> None:
        self._signing = hmac.HMAC(key[:16], hashes.SHA256())
        self._encryption = key[16:]
        self._contexts = threading.local()

    def open(self, data: bytes) -> bytes | None:
        """The text of a token's bytes (_fernet_bytes), or None unless this key made them."""
        if not data:
            return None
        signed, signing = data[:-_MAC], self._signing.copy()
        signing.update(signed)
        try:
            signing.verify(data[-_MAC:])
        except InvalidSignature:
            return None
        chained = signed[_IV_AT:-_BLOCK]  # the IV, then every block but the last
        blocks = self._context().update(signed[_CIPHERTEXT_AT:])
        size = len(blocks)
        padded = (int.from_bytes(blocks) ^ int.from_bytes(chained)).to_bytes(size)
        pad = padded[-1]
        if not 0 < pad <= _BLOCK or padded[-pad:] != bytes([pad]) * pad:
            return None
        return padded[:-pad]

    def _context(self) -> CipherContext:
        context: CipherContext | None = getattr(self._contexts, "aes", None)
        if context is None:
            cipher = Cipher(algorithms.AES(self._encryption), modes.ECB())
            context = self._contexts.aes = cipher.decryptor()
        return context


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
