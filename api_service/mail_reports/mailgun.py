"""Mailgun's webhooks: one event a post, `{"signature": {timestamp, token, signature},
"event-data": {...}}`, the signature an HMAC-SHA256 of the timestamp and token under the webhook
signing key.

https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks (the
signature), https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads
(the events). The signature covers the timestamp and token, not the event: a signed post seen
once could carry another event, so a timestamp older than 5 minutes, or a token seen before, is
refused (provider_notifications remembers the tokens a day).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Request

from api_service.flows.provider_events import Token
from api_service.mail_reports.reader import (
    OUTPOST_ID,
    Reader,
    absent,
    payload,
    reference,
    require_signature,
    section,
    text,
    unauthorized,
)
from api_service.provider_feeds import FeedPost
from shared.messaging.standard_webhooks import within_tolerance
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.settings.config import Settings

NAME = "mailgun"
_UNSIGNED = "A Mailgun webhook signed with MAILGUN_WEBHOOK_SIGNING_KEY, within 5 minutes."
# Mailgun's events Outpost does not act on (counted by name).
_IGNORED = frozenset(
    {"accepted", "rejected", "opened", "clicked", "unsubscribed", "stored", "list_member_uploaded"}
)
# Reasons of a permanent failure that are not the address's fault: retries given up, a
# block by the receiving provider, an unsubscribe from Mailgun's lists.
_NOT_THE_ADDRESS = frozenset({"old", "espblock", "suppress-unsubscribe"})


def read(request: Request, settings: Settings) -> FeedPost:
    """One signed event, its token never to be seen again."""
    key = settings.mailgun_webhook_signing_key
    if key is None:
        absent()
    body = payload(request)
    signature = section(body.get("signature")) if isinstance(body, dict) else {}
    token, stamp = text(signature.get("token")), text(signature.get("timestamp"))
    presented = [text(signature.get(k)) for k in ("signature", "parent-signature")]
    if not token or not stamp or not any(presented):
        raise unauthorized(_UNSIGNED)
    expected = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    require_signature(
        lambda: (
            within_tolerance(stamp, time.time())
            and len(token) <= 100
            and any(p and hmac.compare_digest(p.encode(), expected.encode()) for p in presented)
        ),
        _UNSIGNED,
    )
    events, ignored = _events(section(body.get("event-data")))
    return FeedPost(events, ignored=ignored, once=Token(NAME, token))


def _events(data: Mapping[str, Any]) -> tuple[list[ProviderEvent], tuple[str, ...]]:
    """The event Outpost acts on, or the name it is counted by."""
    kind = text(data.get("event")) or ""
    status = section(data.get("delivery-status"))
    headers = section(section(data.get("message")).get("headers"))
    header_id = reference(headers.get("message-id"))
    ours = reference(section(data.get("user-variables")).get(OUTPOST_ID))
    code, said = status.get("code"), text(status.get("message")) or text(status.get("description"))
    event = partial(
        ProviderEvent,
        source=NAME,
        recipient=text(data.get("recipient")),
        diagnostic=" ".join(str(part) for part in (code, said) if part) or None,
        message_id=ours or header_id,
        # Mailgun's send API answers the id in angle brackets; its events give it without.
        provider_id=f"<{header_id.strip('<>')}>" if header_id else None,
    )
    reason = text(data.get("reason")) or ""
    if kind == "failed" and data.get("severity") == "permanent":
        refused = reason not in _NOT_THE_ADDRESS
        found = event(type=ProviderEventType.BOUNCE, permanent=True, address_refused=refused)
    elif kind == "failed":
        found = event(type=ProviderEventType.BOUNCE, permanent=False)
    elif kind == "complained":
        found = event(type=ProviderEventType.COMPLAINT, permanent=True)
    elif kind == "delivered":
        found = event(type=ProviderEventType.DELIVERY, permanent=False)
    else:
        return [], (kind if kind in _IGNORED else "other",)
    return [found], ()


READER = Reader(
    name=NAME,
    operation_id="postMailgunEvent",
    summary=(
        "A Mailgun webhook (failed, complained, delivered; other events counted), signed with "
        "MAILGUN_WEBHOOK_SIGNING_KEY; 404 while it is unset."
    ),
    body="Mailgun's webhook JSON: `signature` and `event-data`.",
    body_type="object",
    read=read,
)
