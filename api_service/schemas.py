"""Request and response schemas of the public API."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from api_service.passwords import password_problem
from shared.outbox import CHANNELS, LOCALES

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


class AddressSchema(StrictSchema):
    """An email address and/or an E.164 phone number."""

    email = fields.Email(validate=validate.Length(max=254))
    phone = fields.String(
        validate=validate.Regexp(E164, error="Must be an E.164 number such as +33612345678.")
    )

    @pre_load
    def _strip(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v.strip() if k in ("email", "phone") and isinstance(v, str) else v
                for k, v in data.items()
            }
        return data

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "email" in data:
            data["email"] = data["email"].lower()
        return data


class RegistrationSchema(AddressSchema):
    """Body of POST /v1/registrations."""

    password = fields.String(required=True)
    full_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    locale = fields.String(load_default="en", validate=validate.OneOf(LOCALES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))

    @validates("password")
    def _password(self, value: str, **_: Any) -> None:
        problem = password_problem(value)
        if problem:
            raise ValidationError(problem)

    @validates_schema(skip_on_field_errors=True)
    def _addresses(self, data: dict[str, Any], **_: Any) -> None:
        if "email" not in data and "phone" not in data:
            raise ValidationError("An email or a phone number is required.", "email")
        channel = data.get("channel")
        if channel == "email" and "email" not in data:
            raise ValidationError("Required when channel is email.", "email")
        if channel == "sms" and "phone" not in data:
            raise ValidationError("Required when channel is sms.", "phone")

    @post_load
    def _default_channel(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data.setdefault("channel", "email" if "email" in data else "sms")
        return data


class DeliverySchema(Schema):
    """A queued message as a client sees it."""

    id = fields.String()
    channel = fields.String()
    status = fields.String()


class RegistrationAcceptedSchema(Schema):
    """Answer of POST /v1/registrations."""

    status = fields.String()
    delivery = fields.Nested(DeliverySchema)


class DeliveryStatusSchema(DeliverySchema):
    """Answer of GET /v1/deliveries/<id>."""

    attempts = fields.Integer()
    can_resend = fields.Boolean()
