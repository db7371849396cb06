"""Request and response schemas of the public API."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from api_service.dependencies import dependencies
from api_service.fields import EmailAddress, Password, PhoneNumber, Text
from shared.accounts.accounts import UserStatus
from shared.accounts.reaching import email_or_sms
from shared.messaging import locales
from shared.messaging.outbox import CHANNELS, Channel, values_of
from shared.messaging.refusals import FailureReason
from shared.messaging.views import WaitingReason


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


class AddressSchema(StrictSchema):
    """An email address and/or a phone number; with both, one account must own both."""

    email = EmailAddress()
    phone = PhoneNumber()

    @validates_schema(skip_on_field_errors=True)
    def _some_address(self, data: dict[str, Any], **_: Any) -> None:
        if "email" not in data and "phone" not in data:
            raise ValidationError("An email or a phone number is required.", "email")


def _offered() -> tuple[str, ...]:
    """The locales messages can be written in (shared.messaging.locales)."""
    return dependencies().settings.locales


def check_sms_offered(field: str | None) -> None:
    """SMS is refused, naming the `field` that asks for it, when SMS_URL is unset."""
    if field is not None and dependencies().settings.sms_url is None:
        raise ValidationError("SMS is not offered by this service; use email.", field)


class _ChannelSchema(AddressSchema):
    """A request that sends a message: `channel` defaults to the address given."""

    channel = Text(validate=validate.OneOf(CHANNELS))

    @validates_schema(skip_on_field_errors=True)
    def _channel_address(self, data: dict[str, Any], **_: Any) -> None:
        channel = data.get("channel")
        if channel == Channel.SMS or (channel is None and "email" not in data):
            check_sms_offered("channel" if channel else "phone")

    @post_load
    def _default_channel(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data.setdefault("channel", email_or_sms(data.get("email")))
        return data


def captcha_field() -> Text:
    """The human check's token, when CAPTCHA_URL asks for one (else accepted and ignored, so
    that a front end may always send what its widget gave)."""
    return Text(
        validate=validate.Length(max=4096),
        metadata={
            "description": "The response of the human check's widget (Turnstile, hCaptcha or "
            "reCAPTCHA): required when the service asks for one (CAPTCHA_URL); missing, refused "
            "or already used: 422 naming captcha_token; the provider unreachable: 503."
        },
    )


class RegistrationSchema(_ChannelSchema):
    """Body of POST /v1/registrations."""

    captcha_token = captcha_field()
    password = Password()
    full_name = Text(allow_none=True, validate=validate.Length(max=200))
    locale = Text(
        validate=[
            validate.Length(max=locales.LONGEST_TAG),
            validate.Regexp(locales.TAG_PATTERN, error="Not a language tag such as en or pt-BR."),
        ],
        metadata={
            "pattern": locales.TAG_PATTERN,
            "description": "The language of the account's messages: en, fr, or a locale "
            "TEMPLATES_DIR adds (pt-BR falls back to pt). Absent: the best match of "
            "Accept-Language, else en.",
        },
    )

    @validates_schema(skip_on_field_errors=True)
    def _known_locale(self, data: dict[str, Any], **_: Any) -> None:
        if "locale" in data and locales.pick(data["locale"], _offered()) is None:
            raise ValidationError(f"Must be one of: {', '.join(_offered())}.", "locale")

    @post_load
    def _chosen_locale(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The locale asked for, as offered; absent, the request's Accept-Language's."""
        asked = data.get("locale")
        if asked is None:
            accepted = request.headers.get("Accept-Language", "")
            data["locale"] = locales.best_match(accepted, _offered())
        else:
            data["locale"] = locales.rendered_in(asked, _offered())
        return data

    @validates_schema(skip_on_field_errors=True)
    def _channel_address(self, data: dict[str, Any], **_: Any) -> None:
        """Without SMS, a phone is refused even beside an email: it could never be proven, and
        another registration naming it would owe its owner an SMS nothing can send."""
        channel = data.get("channel")
        if "phone" in data and channel != Channel.SMS:
            check_sms_offered("phone")
        if channel == Channel.EMAIL and "email" not in data:
            raise ValidationError("Required when channel is email.", "email")
        if channel == Channel.SMS and "phone" not in data:
            raise ValidationError("Required when channel is sms.", "phone")
        super()._channel_address(data)


class ResendSchema(_ChannelSchema):
    """Body of POST /v1/activations/resend; `channel` defaults to the address given."""

    captcha_token = captcha_field()


class ResetRequestSchema(AddressSchema):
    """Body of POST /v1/password-resets: the code goes by email when one is named, else SMS."""

    captcha_token = captcha_field()

    @validates_schema(skip_on_field_errors=True)
    def _sms_offered(self, data: dict[str, Any], **_: Any) -> None:
        if "email" not in data:
            check_sms_offered("phone")


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


class DeliveryAcceptedSchema(Schema):
    """Answer of a request that queued a message: the delivery a client can follow."""

    status = fields.String()
    delivery = fields.Nested(DeliverySchema)


class RegistrationAcceptedSchema(DeliveryAcceptedSchema):
    """Answer of POST /v1/registrations: the activation's delivery, and a did-you-mean."""

    suggestion = fields.String(
        metadata={
            "description": "Present when the email's domain looks like a misspelling of a "
            "common mail domain: the address with that domain (jane@gmial.com: "
            "jane@gmail.com), read from the address alone. Offer it; an address change "
            "fixes a pending account's address.",
            "example": "jane@gmail.com",
        },
    )


class FallbackSchema(Schema):
    """The delivery of a code's fallback on the account's other channel."""

    id = fields.String()
    channel = fields.String()


class DeliveryStatusSchema(DeliverySchema):
    """Answer of GET /v1/deliveries/<id>."""

    attempts = fields.Integer()
    can_resend = fields.Boolean()
    reason = fields.String(
        allow_none=True,
        metadata={
            "enum": [*values_of(WaitingReason), *values_of(FailureReason), None],
            "description": "While queued, provider_unavailable: the provider is paused and the "
            "message waits for it. Once failed, why: address_rejected means ask the user for "
            "another address. Else null.",
        },
    )
    retry_after = fields.Integer(
        allow_none=True,
        metadata={"description": "Seconds until a new code may be asked for; null when now."},
    )
    next_attempt_after = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Seconds until the relay tries this message again; null when it is "
            "due now or done."
        },
    )
    fallback = fields.Nested(
        FallbackSchema,
        metadata={
            "description": "Present when this code could not arrive (its address refused it, "
            "or its provider stayed down CODE_FALLBACK_AFTER) and a new code went on the "
            "account's other channel: that delivery, to follow as any other. Either code works."
        },
    )


class ProviderEventsResultSchema(Schema):
    """Answer of POST /v1/provider-events: events matched to a message, and the others."""

    accepted = fields.Integer(required=True)
    # `unknown` is marshmallow's own attribute on a schema: the field is named apart.
    unknown_events = fields.Integer(required=True, data_key="unknown")


class LoginSchema(AddressSchema):
    """Body of POST /v1/logins."""

    password = Password(policy=False)


class LoginCodeRequestSchema(_ChannelSchema):
    """Body of POST /v1/login-codes; `channel` defaults to the address given."""

    captcha_token = captcha_field()


class LoginResultSchema(Schema):
    """Answer of POST /v1/logins: the account whose credentials these are."""

    user_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": [UserStatus.ACTIVE.value]})
