"""POST /v1/provider-events, /v1/provider-events/ses, and /v1/provider-events/<name> for each
SMS provider that sends receipts (shared/sms_providers) and each mail provider whose webhooks
Outpost reads (api_service/mail_reports): what providers report after they took a message."""

from __future__ import annotations

from flask import request

from api_service.admin_auth import refuse_credential
from api_service.dependencies import dependencies
from api_service.flows.dependencies import Dependencies
from api_service.flows.provider_events import Replayed, Token, record_events, record_mail
from api_service.mail_reports.reader import Reader, unauthorized
from api_service.mail_reports.registry import READERS
from api_service.metrics import PROVIDER_EVENTS
from api_service.openapi import Blueprint
from api_service.problems import validation_problem
from api_service.provider_feeds import (
    MAX_BODY_BYTES,
    FeedPost,
    authenticate,
    body_json,
    outpost_events,
)
from api_service.request_body import read_bytes
from api_service.schemas import ProviderEventsResultSchema
from api_service.ses_feed import ses_post
from api_service.sms_receipts import HttpReceipt, receipt_post
from shared.reports.mail_intake import IGNORED, SOURCE
from shared.reports.mail_reports import NotAMail, read_mail
from shared.reports.provider_events import TYPES, ProviderEvent
from shared.sms_providers.registry import RECEIVING
from shared.sms_providers.spec import ReceivingSpec

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


_MAIL_BODY = {
    "required": True,
    "content": {
        "message/rfc822": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "One mail to BOUNCE_ADDRESS: a delivery status notification "
                "(RFC 3464), a feedback report (RFC 5965) or a bounce in no standard form, with "
                "the Delivered-To or X-Original-To its receiving server wrote.",
            }
        }
    },
}


@bp.post("/v1/provider-events/mail")
@bp.response(200, ProviderEventsResultSchema)
@bp.problems(400, 401, 404, 413, 415, 422, 429, 503)
@bp.doc(operationId="postMailReport", requestBody=_MAIL_BODY)
def post_mail_report() -> dict[str, int]:
    """A report by mail, as a server that receives BOUNCE_ADDRESS's mail posts it; acted on
    only where its signed address names the message and the recipient it reports is that
    message's (what is forged is counted with the unknown)."""
    deps = dependencies()
    authenticate(request, deps.settings.provider_events_token)
    raw = read_bytes(request, media_types=("message/rfc822",), max_bytes=MAX_BODY_BYTES)
    try:
        report = read_mail(raw)
    except NotAMail:
        raise validation_problem([("body", "Not a mail: no header fields.")]) from None
    taken = record_mail(deps, report)
    if report.kind in IGNORED:
        PROVIDER_EVENTS.labels(SOURCE, report.kind).inc()
    for event in taken.events:
        PROVIDER_EVENTS.labels(SOURCE, event.type).inc()
    PROVIDER_EVENTS.labels(SOURCE, "forged").inc(taken.forged)
    PROVIDER_EVENTS.labels(SOURCE, "unknown").inc(taken.recorded.unknown)
    unknown = taken.recorded.unknown + taken.forged
    return {"accepted": taken.recorded.accepted, "unknown_events": unknown}


def _receipts_route(spec: ReceivingSpec) -> None:
    """POST /v1/provider-events/<spec.name>: one handler for every SMS provider's receipts,
    documented as its spec says; 404 unless SMS_URL or SMS_FALLBACK_URL is such a provider."""
    receipts = spec.receipts

    def post_receipt() -> dict[str, int]:
        deps = dependencies()
        providers = [p for p in deps.settings.sms_providers if p.kind == spec.name]
        http = HttpReceipt(request, deps.settings)
        if not providers:
            http.absent()
        fields = spec.read_receipt(http, providers, deps.settings.sms_context)
        return _apply_post(deps, spec.name, receipt_post(spec.name, receipts, fields))

    doc = receipts.doc
    post_receipt.__doc__ = doc.summary
    schema = {"type": "object", "description": doc.body}
    body = {"required": True, "content": {media: {"schema": schema} for media in doc.media}}
    more = {"parameters": list(doc.parameters)} if doc.parameters else {}
    view = bp.doc(operationId=doc.operation_id, requestBody=body, **more)(post_receipt)
    view = bp.problems(400, 401, 404, 413, 415, 422, 429, 503)(view)
    view = bp.response(200, ProviderEventsResultSchema)(view)
    bp.post(f"/v1/provider-events/{spec.name}", endpoint=f"post_{spec.name}_receipt")(view)


for _spec in RECEIVING:
    _receipts_route(_spec)


def _mail_route(reader: Reader) -> None:
    """POST /v1/provider-events/<reader.name>: a mail provider's webhook, read as its module
    says (404 while its key is unset)."""

    def post_report() -> dict[str, int]:
        deps = dependencies()
        return _apply_post(deps, reader.name, reader.read(request, deps.settings))

    post_report.__doc__ = reader.summary
    schema = {"type": reader.body_type, "description": reader.body}
    body = {"required": True, "content": {"application/json": {"schema": schema}}}
    view = bp.doc(operationId=reader.operation_id, requestBody=body)(post_report)
    view = bp.problems(400, 401, 404, 413, 415, 422, 429, 503)(view)
    view = bp.response(200, ProviderEventsResultSchema)(view)
    bp.post(f"/v1/provider-events/{reader.name}", endpoint=f"post_{reader.name}_report")(view)


for _reader in READERS:
    _mail_route(_reader)


def _apply_post(deps: Dependencies, source: str, post: FeedPost) -> dict[str, int]:
    """Apply one post of a provider; what it brings that Outpost does not act on is counted.
    A signed token seen before is a replay: refused as a wrong credential, nothing recorded."""
    try:
        answer = _apply(deps, post.events, notification_id=post.notification_id, once=post.once)
    except Replayed:
        refuse_credential(unauthorized(f"This {source} token was seen before: a replay."))
    for name in post.ignored:
        PROVIDER_EVENTS.labels(source, name).inc()
    return answer


def _apply(
    deps: Dependencies,
    events: list[ProviderEvent],
    *,
    notification_id: str | None = None,
    once: Token | None = None,
) -> dict[str, int]:
    """Record the events, unless their notification was recorded before (a retry: answered
    200, counting nothing)."""
    recorded = record_events(deps, events, notification_id=notification_id, once=once)
    if recorded is None:
        return {"accepted": 0, "unknown_events": 0}
    for event in events:
        PROVIDER_EVENTS.labels(event.source, event.type).inc()
    return {"accepted": recorded.accepted, "unknown_events": recorded.unknown}
