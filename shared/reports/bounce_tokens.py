"""The VERP token of a mail's envelope sender (BOUNCE_ADDRESS): which message a report by mail
is about, signed so that no one names a message they were not sent.

`bounces+TOKEN@domain`: TOKEN is the message's delivery id and an HMAC of it under a subkey of
SECRET_KEY, in lower-case base32 (a local part's case may not survive every MTA; base32 reads
alike in either). 39 characters, so that the local part stays within RFC 5321's 64.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from shared.secrets.codes import derive_key

_LABEL = "outpost/bounce-address"
# Bytes of the HMAC kept: 64 bits, guessed only by posting 2^63 reports on average.
_SIGNATURE_BYTES = 8
# The delivery id's 16 bytes and the signature, in unpadded base32.
TOKEN_LENGTH = 26 + 13


@dataclass(frozen=True)
class Named:
    """What the address a report came to says: the delivery id its token names (None when it
    has none, or a forged one), and whether it carried a token that does not verify."""

    public_id: str | None
    forged: bool = False


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _signature(secret_key: str, raw_id: bytes) -> bytes:
    key = derive_key(secret_key, _LABEL)
    return hmac.new(key, raw_id, "sha256").digest()[:_SIGNATURE_BYTES]


def token(public_id: str, secret_key: str) -> str:
    """The token of the message `public_id` (a delivery id, a UUID), signed with `secret_key`."""
    raw_id = uuid.UUID(public_id).bytes
    return _b32(raw_id) + _b32(_signature(secret_key, raw_id))


def verp_address(bounce_address: str, public_id: str, secret_key: str) -> str:
    """The envelope sender of the message `public_id`: BOUNCE_ADDRESS with its token."""
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{token(public_id, secret_key)}@{domain}"


def envelope_sender(bounce_address: str | None, secret_key: str) -> Callable[[str], str] | None:
    """The envelope sender of each message by its delivery id; None without BOUNCE_ADDRESS."""
    if bounce_address is None:
        return None
    return partial(verp_address, bounce_address, secret_key=secret_key)


def named_by(address: str, secret_keys: Sequence[str]) -> Named:
    """The message the address a report came to names, if its token verifies under one of
    `secret_keys` (SECRET_KEY and its fallbacks: reports of mail sent before a rotation)."""
    local = address.strip().strip("<>").rpartition("@")[0]
    _, plus, extension = local.partition("+")
    if not plus:
        return Named(None)
    text = extension.upper()
    if len(text) != TOKEN_LENGTH:
        return Named(None, forged=True)
    try:
        raw_id = base64.b32decode(text[:26] + "======")
        signature = base64.b32decode(text[26:] + "===")
    except (binascii.Error, ValueError):
        return Named(None, forged=True)
    if _b32(raw_id) + _b32(signature) != extension.lower():
        # A last character differing only in the bits base32 leaves unused: one token, one form.
        return Named(None, forged=True)
    if not any(hmac.compare_digest(_signature(key, raw_id), signature) for key in secret_keys):
        return Named(None, forged=True)
    return Named(str(uuid.UUID(bytes=raw_id)))
