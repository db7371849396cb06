"""SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA (P-256, SHA-256)
over the timestamp header followed by the body, verified with the public key SendGrid shows.

https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
(the signature), https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event (the
events). SendGrid documents no window for the timestamp: a post replayed can only repeat what
SendGrid said, which changes nothing a second time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Request

from api_service.mail_reports.reader import (
    OUTPOST_ID,
    Reader,
    absent,
    payload,
    reference,
    require_signature,
    signed_body,
    text,
    unauthorized,
)
from api_service.problems import validation_problem
from api_service.provider_feeds import MAX_EVENTS, FeedPost
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.settings.config import Settings

NAME = "sendgrid"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_UNSIGNED = f"A SendGrid Event Webhook post signed ({SIGNATURE}, {TIMESTAMP})."
_IGNORED = frozenset(
    {"processed", "open", "click", "unsubscribe", "group_unsubscribe", "group_resubscribe"}
)
# Why SendGrid drops a message that are the address's fault (the rest: unsubscribes, its
# own limits) — https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event#dropped
_DROPPED_ADDRESS = frozenset({"Bounced Address", "Invalid", "Spam Reporting Address"})


def read(request: Request, settings: Settings) -> FeedPost:
    """A signed batch of events."""
    key = settings.sendgrid_webhook_public_key
    if key is None:
        absent()
    signature, stamp = request.headers.get(SIGNATURE, ""), request.headers.get(TIMESTAMP, "")
    if not signature or not stamp:
        raise unauthorized(_UNSIGNED)
    raw = signed_body(request)
    require_signature(lambda: verified(key, signature, stamp, raw), _UNSIGNED)
    items = payload(request)
    if not isinstance(items, list) or len(items) > MAX_EVENTS:
        raise validation_problem([("", f"A list of at most {MAX_EVENTS} events.")])
    events: list[ProviderEvent] = []
    ignored: list[str] = []
    for item in items:
        found = _event(item if isinstance(item, dict) else {})
        if isinstance(found, ProviderEvent):
            events.append(found)
        else:
            ignored.append(found)
    return FeedPost(events, ignored=tuple(ignored))


def verified(key: str, signature: str, timestamp: str, body: bytes) -> bool:
    """Whether `signature` (base64 of a DER ECDSA signature) is the key's over timestamp + body."""
    public = serialization.load_der_public_key(base64.b64decode(key))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _event(item: Mapping[str, Any]) -> ProviderEvent | str:
    """The event Outpost acts on, or the name it is counted by."""
    kind = text(item.get("event")) or ""
    provider_id = reference(item.get("sg_message_id"))
    said = [text(item.get(k)) for k in ("status", "reason", "response")]
    event = partial(
        ProviderEvent,
        source=NAME,
        recipient=text(item.get("email")),
        diagnostic=" ".join(part for part in said if part) or None,
        message_id=reference(item.get(OUTPOST_ID)) or reference(item.get("smtp-id")),
        # The id the send API answered (X-Message-Id) is sg_message_id up to its filter part.
        provider_id=provider_id.partition(".filter")[0] if provider_id else None,
    )
    if kind == "bounce":
        refused = item.get("type") != "blocked"
        return event(type=ProviderEventType.BOUNCE, permanent=True, address_refused=refused)
    if kind == "dropped":
        refused = item.get("reason") in _DROPPED_ADDRESS
        return event(type=ProviderEventType.BOUNCE, permanent=True, address_refused=refused)
    if kind == "deferred":
        return event(type=ProviderEventType.BOUNCE, permanent=False)
    if kind == "spamreport":
        return event(type=ProviderEventType.COMPLAINT, permanent=True)
    if kind == "delivered":
        return event(type=ProviderEventType.DELIVERY, permanent=False)
    return kind if kind in _IGNORED else "other"


READER = Reader(
    name=NAME,
    operation_id="postSendgridEvents",
    summary=(
        "SendGrid's signed Event Webhook (bounce, dropped, deferred, spamreport, delivered; "
        "other events counted), verified with SENDGRID_WEBHOOK_PUBLIC_KEY; 404 while it is unset."
    ),
    body="A JSON array of SendGrid events, at most 1,000.",
    body_type="array",
    read=read,
)
