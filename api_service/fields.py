"""The string fields of every request: the Text rule, passwords, email addresses, phone numbers."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from api_service.dependencies import dependencies
from api_service.flows.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from api_service.flows.sms_counts import SMS_TOTAL, SmsOutcome
from shared.accounts.addresses import (
    E164_EXAMPLE,
    PHONE_PATTERN,
    REGION_REFUSED,
    AddressError,
    normalise_address,
    normalise_email,
    normalise_phone,
    phone_region,
    sms_refusal,
)
from shared.text import TEXT_PATTERN, is_text, storable


class Text(fields.String):
    """A string without control characters, bidirectional controls or unpaired surrogates."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": TEXT_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not is_text(text):
            raise ValidationError("Must not contain control characters.")
        return text


class Password(fields.String):
    """Any characters but NUL; with `policy` (a new password), 8 to 128 and not a common one.

    One error at most: the policy says why in one sentence, never twice for one field.
    """

    def __init__(self, *, policy: bool = True, required: bool = True) -> None:
        metadata: dict[str, Any] = {"minLength": MIN_LENGTH if policy else 1}
        metadata |= {"maxLength": MAX_LENGTH, "pattern": "^[^\\u0000]*$"}
        if policy:
            metadata["description"] = "8 to 128 characters; a list of common passwords is refused."
        super().__init__(required=required, metadata=metadata)
        self._policy = policy

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        password: str = super()._deserialize(value, attr, data, **kwargs)
        if not storable(password):
            raise ValidationError("Must not contain NUL or unpaired surrogates.")
        if not self._policy:
            if not 1 <= len(password) <= MAX_LENGTH:
                raise ValidationError(f"Must be 1 to {MAX_LENGTH} characters.")
            return password
        problem = password_problem(password)
        if problem:
            raise ValidationError(problem)
        return password


class EmailAddress(Text):
    """An email address in its one stored form (shared.accounts.addresses)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"format": "email", "maxLength": 254}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return normalise_email(text)
        except AddressError as exc:
            raise ValidationError(str(exc)) from None


class PhoneNumber(Text):
    """A number that can take an SMS and costs no more than one (shared.accounts.addresses.costly),
    national input read in PHONE_DEFAULT_REGION, always returned as E.164; one of another
    region than SMS_ALLOWED_REGIONS is refused, with the same words for all."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": PHONE_PATTERN, "example": E164_EXAMPLE}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        settings = dependencies().settings
        try:
            number = normalise_phone(text, settings.phone_default_region)
        except AddressError as exc:
            raise ValidationError(str(exc)) from None
        refusal = sms_refusal(number, settings.sms_allowed_regions)
        if refusal == REGION_REFUSED:
            SMS_TOTAL.labels(phone_region(number), SmsOutcome.REGION_REFUSED).inc()
        if refusal is not None:
            raise ValidationError(refusal)
        return number


class Address(Text):
    """An email address or an E.164 number, in its stored form (what suppressions list)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"maxLength": 254, "example": E164_EXAMPLE}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_address(text)
        except AddressError as exc:
            raise ValidationError(str(exc)) from None
