"""The admin API's providers: what each is, why it is where it is, and a pause by hand."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_service.fields import Text
from api_service.schemas import StrictSchema
from shared.operations import ProviderState
from shared.operations.providers import REASON_MAX


class ProviderSchema(Schema):
    """A configured provider and why it is where it is."""

    name = fields.String(required=True)
    channel = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf([s.value for s in ProviderState]))
    reason = fields.String(allow_none=True, metadata={"description": "Why it is paused."})
    since = fields.DateTime(allow_none=True)
    until = fields.DateTime(
        allow_none=True, metadata={"description": "When an operator's pause ends by itself."}
    )
    paused_by = fields.String(
        allow_none=True, metadata={"description": "`relay`, or the operator who paused it."}
    )


class ProviderListSchema(Schema):
    """Answer of GET /v1/admin/providers: mail, SMS then webhook, in the order relays try them."""

    items = fields.List(fields.Nested(ProviderSchema), required=True)


class ProviderPauseSchema(StrictSchema):
    """Body of POST /v1/admin/providers/<name>/pause."""

    reason = Text(required=True, validate=validate.Length(min=1, max=REASON_MAX))
    seconds = fields.Integer(
        validate=validate.Range(min=1, max=366 * 86400),
        metadata={"description": "How long the pause lasts (default: until resumed)."},
    )


class ProviderResumedSchema(Schema):
    """Answer of POST /v1/admin/providers/<name>/resume."""

    name = fields.String(required=True)
    resumed = fields.Boolean(required=True)
