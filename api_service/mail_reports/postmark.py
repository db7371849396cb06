"""Postmark's bounce, spam complaint and delivery webhooks: one record a post, guarded by HTTP
Basic (Postmark's webhooks take credentials in their URL; the password is
PROVIDER_EVENTS_TOKEN).

https://postmarkapp.com/developer/webhooks/bounce-webhook,
https://postmarkapp.com/developer/webhooks/spam-complaint-webhook,
https://postmarkapp.com/developer/webhooks/delivery-webhook (the records),
https://postmarkapp.com/developer/api/bounce-api#bounce-types (the bounce types).
Postmark's `MessageID` is its own id of the message, never Outpost's Message-ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Request

from api_service.mail_reports.reader import OUTPOST_ID, Reader, payload, reference, section, text
from api_service.problems import validation_problem
from api_service.provider_feeds import FeedPost, authenticate
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.settings.config import Settings

NAME = "postmark"
# Bounce types: the address refused, the message refused (a block, a DMARC policy: the address
# stays), a failure that may pass.
_ADDRESS = frozenset({"HardBounce", "BadEmailAddress"})
_MESSAGE = frozenset({"Blocked", "DMARCPolicy"})
_TRANSIENT = frozenset({"Transient", "SoftBounce", "DnsError"})
_IGNORED = frozenset({"Open", "Click", "SubscriptionChange", "Inbound"})


def read(request: Request, settings: Settings) -> FeedPost:
    """One record, its Basic password the provider-events token."""
    authenticate(request, settings.provider_events_token)
    record = payload(request)
    kind = text(record.get("RecordType")) if isinstance(record, dict) else None
    if not kind:
        raise validation_problem([("RecordType", "A Postmark webhook record is required.")])
    event = _event(kind, record)
    if isinstance(event, str):
        return FeedPost([], ignored=(event,))
    numbered = record.get("ID")
    notification = f"{kind}:{numbered}" if isinstance(numbered, int) else None
    return FeedPost([event], notification_id=notification)


def _event(kind: str, record: Mapping[str, Any]) -> ProviderEvent | str:
    """The event Outpost acts on, or the name it is counted by."""
    bounce = text(record.get("Type")) or ""
    said = [text(record.get(k)) for k in ("Type", "Description", "Details")]
    event = partial(
        ProviderEvent,
        source=NAME,
        recipient=text(record.get("Email")) or text(record.get("Recipient")),
        diagnostic=" ".join(part for part in said if part) or None,
        message_id=reference(section(record.get("Metadata")).get(OUTPOST_ID)),
        provider_id=reference(record.get("MessageID")),
    )
    if kind == "Bounce" and bounce in _ADDRESS | _MESSAGE:
        refused = bounce in _ADDRESS
        return event(type=ProviderEventType.BOUNCE, permanent=True, address_refused=refused)
    if kind == "Bounce" and bounce in _TRANSIENT:
        return event(type=ProviderEventType.BOUNCE, permanent=False)
    if kind == "SpamComplaint":
        return event(type=ProviderEventType.COMPLAINT, permanent=True)
    if kind == "Delivery":
        return event(type=ProviderEventType.DELIVERY, permanent=False)
    if kind == "Bounce":
        return "bounce_other"
    return kind.lower() if kind in _IGNORED else "other"


READER = Reader(
    name=NAME,
    operation_id="postPostmarkRecord",
    summary=(
        "A Postmark webhook record (Bounce, SpamComplaint, Delivery; others counted), HTTP Basic "
        "with PROVIDER_EVENTS_TOKEN as the password; 404 while it is unset."
    ),
    body="One Postmark webhook record, named by its `RecordType`.",
    body_type="object",
    read=read,
)
