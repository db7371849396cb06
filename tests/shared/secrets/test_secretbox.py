"""SecretBox opens exactly what cryptography's Fernet opens, to the same text, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import threading
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from shared.secrets.secretbox import OUTBOX_SECRETS, SealedUnderOtherKey, SecretBox, subkeys

NEW, OLD = "n" * 43, "o" * 43
FERNET = MultiFernet(
    [Fernet(base64.urlsafe_b64encode(key)) for key in subkeys([NEW, OLD], OUTBOX_SECRETS)]
)
BOX = SecretBox(NEW, OLD)
SEALERS = {True: SecretBox(OLD), False: SecretBox(NEW)}
SEALED = SecretBox(OLD).seal({"code": "123456"})

params = st.dictionaries(st.text(max_size=8), st.text(max_size=40) | st.integers(), max_size=4)


def fernet_open(token: str) -> dict[str, Any] | None:
    """What cryptography's own Fernet makes of a token; None where it refuses it."""
    try:
        value = json.loads(FERNET.decrypt(token))
    except (InvalidToken, ValueError):
        return None
    assert isinstance(value, dict)
    return value


def box_open(token: str) -> dict[str, Any] | None:
    try:
        return BOX.open(token)
    except SealedUnderOtherKey:
        return None


@given(params, st.booleans())
def test_what_either_key_sealed_opens_to_what_was_sealed(value: dict[str, Any], old: bool) -> None:
    token = SEALERS[old].seal(value)
    assert BOX.open(token) == value == fernet_open(token)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255), st.integers(0, 3))
def test_a_token_changed_anywhere_is_refused_as_fernet_refuses_it(
    at: int, xor: int, cut: int
) -> None:
    raw = bytearray(base64.urlsafe_b64decode(SEALED))
    raw[at % len(raw)] ^= xor
    token = base64.urlsafe_b64encode(bytes(raw[: len(raw) - cut])).decode()
    assert box_open(token) is None
    assert fernet_open(token) is None


@given(st.text(max_size=200))
def test_any_text_opens_only_as_fernet_opens_it(token: str) -> None:
    assert box_open(token) == fernet_open(token)


@given(st.binary(max_size=120))
def test_any_bytes_in_base64_open_only_as_fernet_opens_them(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode()
    assert box_open(token) == fernet_open(token)


@pytest.mark.parametrize(("last", "opened"), [(14, {}), (0, None), (17, None), (2, None)])
def test_a_signed_token_opens_only_with_the_padding_right(
    last: int, opened: dict[str, Any] | None
) -> None:
    """Signed with the right key, decrypting to `{}` and fourteen bytes of 14 but the last:
    opened only when that one is 14 too."""
    key = subkeys([NEW], OUTBOX_SECRETS)[0]
    iv, text = os.urandom(16), b"{}" + bytes([14]) * 13 + bytes([last])
    encryptor = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    signed = b"\x80" + struct.pack(">Q", 0) + iv + encryptor.update(text) + encryptor.finalize()
    token = signed + hmac.digest(key[:16], signed, hashlib.sha256)
    encoded = base64.urlsafe_b64encode(token).decode()
    assert box_open(encoded) == opened == fernet_open(encoded)


def test_threads_open_at_once_each_to_its_own_text() -> None:
    tokens = {f"{n:06d}": BOX.seal({"code": f"{n:06d}"}) for n in range(200)}
    wrong: list[str] = []

    def open_all() -> None:
        wrong.extend(code for code, token in tokens.items() if BOX.open(token)["code"] != code)

    threads = [threading.Thread(target=open_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
