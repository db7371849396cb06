"""Outpost's Standard Webhooks code against the specification's reference library
(`standardwebhooks`, a test dependency): what one signs, the other verifies."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from shared.messaging.standard_webhooks import signature, verified, within_tolerance

KEY = b"a key of at least sixteen bytes!"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"email.bounced","data":{"email_id":"4ef9a417"}}'


def test_what_the_reference_signs_is_verified_and_nothing_else() -> None:
    now = int(time.time())
    signed = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert verified(KEY, "msg_1", str(now), signed, BODY)
    # A rotating sender lists several signatures: any one of them will do.
    assert verified(KEY, "msg_1", str(now), f"v1,bm90IHRoaXM= {signed}", BODY)
    assert not verified(KEY, "msg_1", str(now), signed, BODY + b" ")
    assert not verified(KEY, "msg_2", str(now), signed, BODY)
    assert not verified(KEY, "msg_1", str(now + 1), signed, BODY)
    assert not verified(b"another key of sixteen bytes....", "msg_1", str(now), signed, BODY)
    assert not verified(KEY, "msg_1", "not a number", signed, BODY)
    assert not verified(KEY, "msg_1", str(now), "v2," + signed[3:], BODY)
    assert not verified(KEY, "msg_1", str(now), "v1,@@@", BODY)


def test_what_outpost_signs_the_reference_verifies() -> None:
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature(KEY, "msg_1", now, BODY),
    }
    assert Webhook(SECRET).verify(BODY, headers) is not None


def test_a_timestamp_is_taken_within_five_minutes_either_way() -> None:
    now = time.time()
    assert within_tolerance(str(int(now) - 290), now)
    assert within_tolerance(str(int(now) + 290), now)
    assert not within_tolerance(str(int(now) - 310), now)
    assert not within_tolerance(str(int(now) + 310), now)
    assert not within_tolerance("-5", now)
    assert not within_tolerance("١٢٣", now)
