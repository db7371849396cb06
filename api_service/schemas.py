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
    validates_schema,
)

from api_service.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from shared.outbox import CHANNELS, LOCALES

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
CODE = re.compile(r"^[0-9]{6}$")


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


class AddressSchema(StrictSchema):
    """An email address and/or an E.164 phone number; with both, one account must own both."""

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

    @validates_schema(skip_on_field_errors=True)
    def _some_address(self, data: dict[str, Any], **_: Any) -> None:
        if "email" not in data and "phone" not in data:
            raise ValidationError("An email or a phone number is required.", "email")

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "email" in data:
            data["email"] = data["email"].lower()
        return data


def _check_password(value: str) -> None:
    problem = password_problem(value)
    if problem:
        raise ValidationError(problem)


def _password_field() -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=MIN_LENGTH, max=MAX_LENGTH), _check_password],
        metadata={"description": "8 to 128 characters; a list of common passwords is refused."},
    )


def _code_field() -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Regexp(CODE, error="Must be the 6 digits of the code."),
        metadata={"example": "042917"},
    )


class RegistrationSchema(AddressSchema):
    """Body of POST /v1/registrations."""

    password = _password_field()
    full_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    locale = fields.String(load_default="en", validate=validate.OneOf(LOCALES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))

    @validates_schema(skip_on_field_errors=True)
    def _channel_address(self, data: dict[str, Any], **_: Any) -> None:
        channel = data.get("channel")
        if channel == "email" and "email" not in data:
            raise ValidationError("Required when channel is email.", "email")
        if channel == "sms" and "phone" not in data:
            raise ValidationError("Required when channel is sms.", "phone")

    @post_load
    def _default_channel(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data.setdefault("channel", "email" if "email" in data else "sms")
        return data


class ActivationSchema(AddressSchema):
    """Body of POST /v1/activations."""

    code = _code_field()


class ResendSchema(AddressSchema):
    """Body of POST /v1/activations/resend; `channel` defaults to the address given."""

    channel = fields.String(validate=validate.OneOf(CHANNELS))

    @post_load
    def _default_channel(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data.setdefault("channel", "email" if "email" in data else "sms")
        return data


class ResetRequestSchema(AddressSchema):
    """Body of POST /v1/password-resets."""


class ResetConfirmSchema(AddressSchema):
    """Body of POST /v1/password-resets/confirm."""

    code = _code_field()
    new_password = _password_field()


class StatusSchema(Schema):
    """An answer that is only a status."""

    status = fields.String(required=True)


class ProblemErrorSchema(Schema):
    """One field that is wrong."""

    pointer = fields.String(required=True, metadata={"example": "#/email"})
    detail = fields.String(required=True)


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(ProblemErrorSchema))


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
    reason = fields.String(
        allow_none=True,
        metadata={
            "enum": ["address_rejected", "undeliverable", None],
            "description": "Why it failed (null unless failed): address_rejected means ask "
            "the user for another address.",
        },
    )
    retry_after = fields.Integer(
        allow_none=True,
        metadata={"description": "Seconds until a new code may be asked for; null when now."},
    )


class ProviderEventsResultSchema(Schema):
    """Answer of POST /v1/provider-events: events matched to a message, and the others."""

    accepted = fields.Integer(required=True)
    # `unknown` is marshmallow's own attribute on a schema: the field is named apart.
    unknown_events = fields.Integer(required=True, data_key="unknown")


class LoginSchema(AddressSchema):
    """Body of POST /v1/logins."""

    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LENGTH))


class LoginResultSchema(Schema):
    """Answer of POST /v1/logins: the account whose credentials these are."""

    user_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["active"]})
