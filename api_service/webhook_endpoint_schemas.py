"""Schemas of the admin API's webhook endpoints (/v1/admin/webhook-endpoints)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from api_service.fields import Text
from api_service.schemas import StrictSchema
from shared.messaging.webhook_endpoints import checked_url
from shared.operations import SUBSCRIBABLE

EVENTS = [str(event) for event in SUBSCRIBABLE]
# The longest URL an endpoint may have: what any receiver's address needs.
MAX_URL = 2000


def _http_url(value: str) -> None:
    """An endpoint's URL: http(s)://, no spaces or control characters, a host and port."""
    try:
        checked_url(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class EndpointRequestSchema(StrictSchema):
    """Body of POST /v1/admin/webhook-endpoints."""

    url = Text(
        required=True,
        validate=[validate.Length(min=1, max=MAX_URL), _http_url],
        metadata={"description": "An http(s):// URL; its query string is kept sealed."},
    )
    events = fields.List(
        Text(validate=validate.OneOf(EVENTS)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENTS)),
        metadata={"description": "The event types it receives."},
    )


class EndpointSchema(Schema):
    """An endpoint: never its secret, its URL without query string or credentials."""

    id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(metadata={"enum": EVENTS}), required=True)
    created_at = fields.AwareDateTime(required=True)


class EndpointCreatedSchema(EndpointSchema):
    """Answer of POST /v1/admin/webhook-endpoints: the endpoint and its secret, shown once."""

    secret = fields.String(
        required=True,
        metadata={"description": "`whsec_…`, the Standard Webhooks secret: shown this once."},
    )


class EndpointListSchema(Schema):
    """Answer of GET /v1/admin/webhook-endpoints: every endpoint, oldest first."""

    items = fields.List(fields.Nested(EndpointSchema), required=True)
