"""Resend's webhooks: one event a post, `{"type", "created_at", "data"}`, signed as Standard
Webhooks specify (Resend sends through Svix: `svix-id`, `svix-timestamp`, `svix-signature`).

https://resend.com/docs/webhooks/verify-webhooks-requests (the signature),
https://resend.com/docs/webhooks/event-types and https://resend.com/docs/webhooks/emails/bounced
(the events). Resend's `email_id` is its own id of the message, never Outpost's Message-ID; the
same `svix-id` comes with every retry of one event, which records it once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Request

from api_service.mail_reports.reader import (
    OUTPOST_ID,
    Reader,
    absent,
    payload,
    reference,
    require_signature,
    section,
    signed_body,
    text,
    unauthorized,
)
from api_service.provider_feeds import FeedPost
from shared.messaging.standard_webhooks import verified, within_tolerance
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.settings.config import Settings

NAME = "resend"
_UNSIGNED = "A Resend webhook signed (svix-id, svix-timestamp, svix-signature) within 5 minutes."
# Bounce sub-types that refuse this message, not the address (Resend sends through SES).
_NOT_THE_ADDRESS = frozenset({"MessageTooLarge", "ContentRejected", "AttachmentRejected"})
# Resend's events of a mail Outpost does not act on (counted by name, without `email.`).
_IGNORED = frozenset({"sent", "opened", "clicked", "scheduled", "failed", "suppressed"})


def _header(request: Request, name: str) -> str:
    """Svix's header, or the Standard Webhooks one of the same name."""
    return request.headers.get(f"svix-{name}") or request.headers.get(f"webhook-{name}", "")


def read(request: Request, settings: Settings) -> FeedPost:
    """One signed event, recorded once whatever Resend's retries."""
    key = settings.resend_webhook_secret
    if key is None:
        absent()
    event_id, stamp, signatures = (_header(request, n) for n in ("id", "timestamp", "signature"))
    if not event_id or not stamp or not signatures:
        raise unauthorized(_UNSIGNED)
    raw = signed_body(request)
    require_signature(
        lambda: (
            within_tolerance(stamp, time.time())
            and len(event_id) <= 100
            and verified(key, event_id, stamp, signatures, raw)
        ),
        _UNSIGNED,
    )
    body = payload(request)
    kind = text(body.get("type")) if isinstance(body, dict) else None
    event = _event(kind or "", section(body.get("data")) if kind else {})
    if isinstance(event, str):
        return FeedPost([], ignored=(event,))
    return FeedPost([event], notification_id=event_id)


def _event(kind: str, data: Mapping[str, Any]) -> ProviderEvent | str:
    """The event Outpost acts on, or the name it is counted by."""
    bounce = section(data.get("bounce"))
    recipients = data.get("to")
    said = [text(bounce.get(k)) for k in ("type", "subType", "message")]
    event = partial(
        ProviderEvent,
        source=NAME,
        recipient=text(recipients[0]) if isinstance(recipients, list) and recipients else None,
        diagnostic=" ".join(part for part in said if part) or None,
        message_id=reference(section(data.get("tags")).get(OUTPOST_ID)),
        provider_id=reference(data.get("email_id")),
    )
    if kind == "email.bounced" and bounce.get("type") == "Permanent":
        refused = bounce.get("subType") not in _NOT_THE_ADDRESS
        return event(type=ProviderEventType.BOUNCE, permanent=True, address_refused=refused)
    if kind in ("email.bounced", "email.delivery_delayed"):
        return event(type=ProviderEventType.BOUNCE, permanent=False)
    if kind == "email.complained":
        return event(type=ProviderEventType.COMPLAINT, permanent=True)
    if kind == "email.delivered":
        return event(type=ProviderEventType.DELIVERY, permanent=False)
    name = kind.removeprefix("email.")
    return name if name in _IGNORED else "other"


READER = Reader(
    name=NAME,
    operation_id="postResendEvent",
    summary=(
        "A Resend webhook (email.bounced, email.complained, email.delivered, "
        "email.delivery_delayed; others counted), its Svix signature verified with "
        "RESEND_WEBHOOK_SECRET; 404 while it is unset."
    ),
    body="One Resend event: `type`, `created_at`, `data`.",
    body_type="object",
    read=read,
)
