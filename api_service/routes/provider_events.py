"""POST /v1/provider-events and /v1/provider-events/ses: what providers report after `250`."""

from __future__ import annotations

from flask import request

from api_service.dependencies import dependencies
from api_service.flows.dependencies import Dependencies
from api_service.metrics import PROVIDER_EVENTS
from api_service.openapi import Blueprint
from api_service.provider_feeds import authenticate, body_json, outpost_events
from api_service.schemas import ProviderEventsResultSchema
from api_service.ses_feed import ses_post
from shared.clock import utcnow
from shared.provider_events import ProviderEvent, first_seen, record

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
                                "type": {"enum": ["bounce", "complaint", "delivery"]},
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
    post = ses_post(body_json(request, text_allowed=True))
    if post.ignored is not None:
        PROVIDER_EVENTS.labels("ses", post.ignored).inc()
    return _apply(deps, post.events, notification_id=post.notification_id)


def _apply(
    deps: Dependencies, events: list[ProviderEvent], *, notification_id: str | None = None
) -> dict[str, int]:
    """Record the events in one transaction, unless their notification was recorded before
    (a retry: answered 200, recording and counting nothing)."""
    now = utcnow()
    with deps.unit_of_work() as work:
        retry = (
            bool(events)
            and notification_id is not None
            and not first_seen(work.connection, events[0].source, notification_id, now)
        )
        if retry:
            return {"accepted": 0, "unknown_events": 0}
        recorded = record(
            work.connection,
            events,
            settings=deps.settings,
            box=deps.box,
            suppressor=deps.suppressor.of(work.connection),
            now=now,
        )
        work.commit()
    for event in events:
        PROVIDER_EVENTS.labels(event.source, event.type).inc()
    return {"accepted": recorded.accepted, "unknown_events": recorded.unknown}
