"""POST /v1/provider-events and /v1/provider-events/ses|twilio|vonage: what providers report
after they took a message."""

from __future__ import annotations

from flask import request

from api_service.admin_auth import require_token
from api_service.dependencies import dependencies
from api_service.flows.dependencies import Dependencies
from api_service.flows.provider_events import record_events
from api_service.metrics import PROVIDER_EVENTS
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.provider_feeds import FeedPost, authenticate, body_json, outpost_events
from api_service.schemas import ProviderEventsResultSchema
from api_service.ses_feed import ses_post
from api_service.sms_receipts import twilio_post, vonage_post
from shared.provider_events import TYPES, ProviderEvent
from shared.sms_url import RECEIPT_KEY, SmsKind, SmsProvider, providers_of, receipt_key

bp = Blueprint("provider_events", __name__, description="Providers' delivery webhooks.")

# No NUL: no database stores it (an unpaired surrogate is refused too; JSON Schema cannot say it).
_NO_NUL = "^[^\\u0000]*$"
_REFERENCE = {"type": "string", "minLength": 1, "maxLength": 300, "pattern": _NO_NUL}
_TEXT = {"type": "string", "maxLength": 1000, "pattern": _NO_NUL}
_EVENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "maxItems": 1000,
                        "items": {
                            "type": "object",
                            "required": ["type"],
                            "anyOf": [
                                {"required": ["message_id"]},
                                {"required": ["delivery_id"]},
                            ],
                            "properties": {
                                "type": {"enum": list(TYPES)},
                                "message_id": _REFERENCE,
                                "delivery_id": _REFERENCE,
                                "recipient": _TEXT,
                                "permanent": {"type": "boolean"},
                                "diagnostic": _TEXT,
                            },
                            "additionalProperties": False,
                        },
                    }
                },
            }
        }
    },
}
_SNS_BODY = {
    "required": True,
    "content": {
        media: {"schema": {"type": "object", "description": "An Amazon SNS message."}}
        for media in ("application/json", "text/plain")
    },
}
_TWILIO_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "description": "A Twilio status callback (MessageSid, MessageStatus, ErrorCode…).",
            }
        }
    },
}
_VONAGE_BODY = {
    "required": True,
    "content": {
        media: {
            "schema": {
                "type": "object",
                "description": "A Vonage delivery receipt (messageId, status, err-code, api-key…).",
            }
        }
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


@bp.post("/v1/provider-events")
@bp.response(200, ProviderEventsResultSchema)
@bp.problems(400, 401, 404, 413, 415, 422, 429, 503)
@bp.doc(operationId="postProviderEvents", requestBody=_EVENT_BODY)
def post_provider_events() -> dict[str, int]:
    """Bounces, complaints and deliveries in Outpost's own format."""
    deps = dependencies()
    authenticate(request, deps.settings.provider_events_token)
    return _apply(deps, outpost_events(body_json(request, text_allowed=False)))


@bp.post("/v1/provider-events/ses")
@bp.response(200, ProviderEventsResultSchema)
@bp.problems(400, 401, 404, 413, 415, 422, 429, 503)
@bp.doc(operationId="postSesNotification", requestBody=_SNS_BODY)
def post_ses_notification() -> dict[str, int]:
    """An Amazon SES notification as Amazon SNS posts it (HTTP Basic: the password is the
    token)."""
    deps = dependencies()
    authenticate(request, deps.settings.provider_events_token)
    return _apply_post(deps, "ses", ses_post(body_json(request, text_allowed=True)))


@bp.post("/v1/provider-events/twilio")
@bp.response(200, ProviderEventsResultSchema)
@bp.problems(400, 401, 404, 413, 415, 422, 429, 503)
@bp.doc(
    operationId="postTwilioStatusCallback",
    requestBody=_TWILIO_BODY,
    parameters=[
        {
            "name": "X-Twilio-Signature",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Twilio's signature over PUBLIC_URL's callback URL and the fields.",
        }
    ],
)
def post_twilio_status_callback() -> dict[str, int]:
    """A Twilio status callback, verified by X-Twilio-Signature (404 unless SMS_URL or
    SMS_FALLBACK_URL is a Twilio account and PUBLIC_URL is set)."""
    deps = dependencies()
    providers = _configured(deps, SmsKind.TWILIO)
    public_url = deps.settings.public_url
    if public_url is None:
        raise Problem(404, "not-found", "Not Found", "No such route.")
    return _apply_post(deps, "twilio", twilio_post(request, providers, public_url))


@bp.post("/v1/provider-events/vonage")
@bp.response(200, ProviderEventsResultSchema)
@bp.problems(400, 401, 404, 413, 415, 422, 429, 503)
@bp.doc(operationId="postVonageDeliveryReceipt", requestBody=_VONAGE_BODY)
def post_vonage_delivery_receipt() -> dict[str, int]:
    """A Vonage delivery receipt, at the callback URL the relay gave Vonage (its `key`) or with
    the token as for /ses, and the account's api-key; 404 unless SMS_URL or SMS_FALLBACK_URL is
    a Vonage account."""
    deps = dependencies()
    providers = _configured(deps, SmsKind.VONAGE)
    key = request.args.get(RECEIPT_KEY)
    if key is None:
        authenticate(request, deps.settings.provider_events_token)
    else:
        keys = [receipt_key(secret) for secret in deps.settings.secret_keys]
        require_token(key, keys, _wrong_receipt_key())
    return _apply_post(deps, "vonage", vonage_post(request, providers))


def _wrong_receipt_key() -> Problem:
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "This callback URL's key is not the one the relay gives Vonage.",
    )


def _configured(deps: Dependencies, kind: SmsKind) -> list[SmsProvider]:
    """The SMS providers of `kind` configured; 404 when there is none."""
    providers = providers_of(kind, deps.settings.sms_url, deps.settings.sms_fallback_url)
    if not providers:
        raise Problem(404, "not-found", "Not Found", "No such route.")
    return providers


def _apply_post(deps: Dependencies, source: str, post: FeedPost) -> dict[str, int]:
    """Apply one post of a provider; what it brings that Outpost does not act on is counted."""
    if post.ignored is not None:
        PROVIDER_EVENTS.labels(source, post.ignored).inc()
    return _apply(deps, post.events, notification_id=post.notification_id)


def _apply(
    deps: Dependencies, events: list[ProviderEvent], *, notification_id: str | None = None
) -> dict[str, int]:
    """Record the events, unless their notification was recorded before (a retry: answered
    200, counting nothing)."""
    recorded = record_events(deps, events, notification_id=notification_id)
    if recorded is None:
        return {"accepted": 0, "unknown_events": 0}
    for event in events:
        PROVIDER_EVENTS.labels(event.source, event.type).inc()
    return {"accepted": recorded.accepted, "unknown_events": recorded.unknown}
