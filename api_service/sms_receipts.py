"""SMS delivery receipts read into ProviderEvents: Twilio's status callbacks, verified by
X-Twilio-Signature, and Vonage's delivery receipts (DLRs), guarded by PROVIDER_EVENTS_TOKEN
and the account's API key.

Twilio: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (the
callback), https://www.twilio.com/docs/usage/webhooks/webhooks-security (the signature),
https://www.twilio.com/docs/api/errors (the codes). Vonage:
https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts (the DLR) and
https://api.support.vonage.com/hc/en-us/articles/204014733 (its `err-code` table).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Request
from werkzeug.datastructures import MultiDict

from api_service.admin_auth import require_token
from api_service.problems import Problem, validation_problem
from api_service.provider_feeds import MAX_BODY_BYTES, FeedPost, check_storable
from api_service.request_body import read_form, read_json
from shared.provider_events import ProviderEvent, ProviderEventType
from shared.sms_url import SmsKind, SmsProvider, receipts_url

# The longest message id and status read (Twilio's SIDs are 34 characters, Vonage's ids 16 to
# 36), so that `id:status` keys a notification (provider_notifications, 100 characters).
_MAX_ID = 64
_MAX_STATUS = 30


@dataclass(frozen=True)
class _Receipts:
    """How one provider's receipts read: the fields naming the message (the provider's id, and
    ours if the provider echoes one), its status and error code; the statuses that say the
    message failed, the error codes among those that refuse the number itself, and the other
    statuses it sends."""

    source: str
    id_field: str
    status_field: str
    code_field: str
    reference_field: str | None
    failed: frozenset[str]
    refused: frozenset[str]
    passing: frozenset[str]


TWILIO = _Receipts(
    "twilio",
    id_field="MessageSid",
    status_field="MessageStatus",
    code_field="ErrorCode",
    reference_field=None,
    failed=frozenset({"undelivered", "failed"}),
    # 30005 unknown destination handset, 30006 landline or unreachable carrier.
    refused=frozenset({"30005", "30006"}),
    passing=frozenset(
        {"accepted", "scheduled", "canceled", "queued", "sending", "sent", "read"}
        | {"receiving", "received", "partially_delivered"}
    ),
)
VONAGE = _Receipts(
    "vonage",
    id_field="messageId",
    status_field="status",
    code_field="err-code",
    reference_field="client-ref",
    failed=frozenset({"expired", "failed", "rejected"}),
    # 3 absent subscriber - permanent, 4 call barred by user (both "should be removed from
    # your database"), 9 illegal number (the user asked not to receive the service's messages).
    refused=frozenset({"3", "4", "9"}),
    passing=frozenset({"accepted", "buffered", "unknown"}),
)


def _twilio_challenge() -> Problem:
    """The 401 of a callback whose signature is missing or wrong."""
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "Sign the callback with X-Twilio-Signature, keyed by the auth token of the Twilio "
        "account in SMS_URL or SMS_FALLBACK_URL.",
        headers={"WWW-Authenticate": 'X-Twilio-Signature realm="provider-events"'},
    )


def twilio_signature(auth_token: str, url: str, fields: MultiDict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it: base64 of the HMAC-SHA1, keyed by the auth
    token, of the URL followed by each field's name and value, sorted by name then value."""
    signed = url + "".join(
        name + value for name in sorted(fields) for value in sorted(set(fields.getlist(name)))
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _signed_urls(url: str) -> set[str]:
    """The URL as given, without its port and with the scheme's default one: Twilio's own
    validator takes a signature over either, Twilio having signed both ways."""
    parts = urlsplit(url)
    try:
        given_port = parts.port
    except ValueError:
        return {url}
    host = parts.netloc.rsplit(":", 1)[0] if given_port else parts.netloc
    port = given_port or (443 if parts.scheme == "https" else 80)
    return {
        url,
        urlunsplit(parts._replace(netloc=host)),
        urlunsplit(parts._replace(netloc=f"{host}:{port}")),
    }


def twilio_post(request: Request, providers: list[SmsProvider], public_url: str) -> FeedPost:
    """A status callback, once its signature is the sending account's: computed with the auth
    token of the Twilio provider whose account SID the callback names (`AccountSid`), over the
    exact URL Twilio called, PUBLIC_URL's callback URL with the query string it came with. A
    request without a signature is challenged, never counted."""
    presented = request.headers.get("X-Twilio-Signature", "").strip()
    if not presented:
        raise _twilio_challenge()
    fields = read_form(request, max_bytes=MAX_BODY_BYTES)
    called = receipts_url(public_url, SmsKind.TWILIO)
    if request.query_string:
        called += "?" + request.query_string.decode("latin-1")
    account = fields.get("AccountSid")
    signatures = [
        twilio_signature(p.secret, url, fields)
        for p in providers
        if p.secret and p.account == account
        for url in _signed_urls(called)
    ]
    require_token(presented, signatures, _twilio_challenge())
    return _receipt(TWILIO, fields.to_dict())


def vonage_post(request: Request, providers: list[SmsProvider]) -> FeedPost:
    """A DLR, posted as JSON or as a form, once its `api-key` is a Vonage provider's (the
    token was checked before)."""
    if request.mimetype == "application/x-www-form-urlencoded":
        payload: Any = read_form(request, max_bytes=MAX_BODY_BYTES).to_dict()
    else:
        payload = read_json(request, max_bytes=MAX_BODY_BYTES)
    if not isinstance(payload, dict):
        raise validation_problem([("messageId", "A delivery receipt is an object.")])
    fields = {
        k: str(v)
        for k, v in payload.items()
        if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
    }
    wrong_key = Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "The receipt's api-key is not the API key of the Vonage account in SMS_URL or "
        "SMS_FALLBACK_URL.",
        headers={"WWW-Authenticate": 'Basic realm="provider-events"'},
    )
    require_token(fields.get("api-key"), [p.account for p in providers], wrong_key)
    return _receipt(VONAGE, fields)


def _receipt(kind: _Receipts, fields: Mapping[str, str]) -> FeedPost:
    """The event a receipt reports about the message the provider knows by its id: a
    delivery, a failure (of the number, or of this message only), or nothing for a status on
    the way, counted by its name. The same status of the same message is one notification."""
    check_storable(dict(fields))
    message_id, status = fields.get(kind.id_field, ""), fields.get(kind.status_field, "").lower()
    errors = [
        (name, f"Required, at most {most} characters.")
        for name, value, most in (
            (kind.id_field, message_id, _MAX_ID),
            (kind.status_field, status, _MAX_STATUS),
        )
        if not 0 < len(value) <= most
    ]
    if errors:
        raise validation_problem(errors)
    if status != "delivered" and status not in kind.failed:
        return FeedPost([], ignored=status if status in kind.passing else "other")
    code = fields.get(kind.code_field, "")[:20]
    failed = status in kind.failed
    event = ProviderEvent(
        type=ProviderEventType.BOUNCE if failed else ProviderEventType.DELIVERY,
        permanent=failed,
        source=kind.source,
        diagnostic=f"{kind.source} {status}" + (f" (error {code})" if failed and code else ""),
        message_id=fields.get(kind.reference_field) if kind.reference_field else None,
        provider_id=message_id,
        address_refused=code in kind.refused,
    )
    return FeedPost([event], notification_id=f"{message_id}:{status}")
