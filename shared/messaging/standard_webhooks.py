"""Standard Webhooks signatures (https://www.standardwebhooks.com/, what Svix sends): the relay
signs the application's events with them, and the API verifies Resend's reports by them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

# How far a signed timestamp may be from now, in seconds, either way (the specification's
# reference libraries allow five minutes).
TOLERANCE = 300


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verified(key: bytes, message_id: str, timestamp: str, signatures: str, body: bytes) -> bool:
    """Whether one of the space-separated `v1,…` signatures is `body`'s under `key`, each
    compared in constant time (a sender rotating its secret signs with both)."""
    try:
        expected = base64.b64decode(signature(key, message_id, int(timestamp), body)[3:])
    except ValueError:
        return False
    found = False
    for presented in signatures.split():
        version, _, encoded = presented.partition(",")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        found |= version == "v1" and hmac.compare_digest(decoded, expected)
    return found


def within_tolerance(timestamp: str, now: float) -> bool:
    """Whether `timestamp` (seconds since the epoch, digits only) is within TOLERANCE of now."""
    return timestamp.isascii() and timestamp.isdigit() and abs(now - int(timestamp)) <= TOLERANCE
