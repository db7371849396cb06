"""The string fields of every request: the Text rule, passwords, email addresses, phone numbers."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields

from api_service.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from api_service.services import services

# C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]*$"
E164_EXAMPLE = "+33612345678"
# What people write in a number: digits and the usual separators, no letters, no extension.
PHONE_PATTERN = r"^\+?[0-9 ().-]{4,24}$"
_PHONE_CHARS = re.compile(PHONE_PATTERN)


def _unpaired_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Text(fields.String):
    """A string without control characters, bidirectional controls or unpaired surrogates."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": TEXT_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROLS.search(text) or _unpaired_surrogate(text):
            raise ValidationError("Must not contain control characters.")
        return text


class Password(fields.String):
    """Any characters but NUL; with `policy` (a new password), 8 to 128 and not a common one.

    One error at most: the policy says why in one sentence, never twice for one field.
    """

    def __init__(self, *, policy: bool = True) -> None:
        metadata: dict[str, Any] = {"minLength": MIN_LENGTH if policy else 1}
        metadata |= {"maxLength": MAX_LENGTH, "pattern": "^[^\\u0000]*$"}
        if policy:
            metadata["description"] = "8 to 128 characters; a list of common passwords is refused."
        super().__init__(required=True, metadata=metadata)
        self._policy = policy

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        password: str = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in password or _unpaired_surrogate(password):
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
    """An address checked without DNS, IDNA domains in ASCII, lower case: one mailbox, one form."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"format": "email", "maxLength": 254}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalise_email(super()._deserialize(value, attr, data, **kwargs).strip())


def normalise_email(address: str) -> str:
    """The one stored form of an address, or a ValidationError saying why there is none.

    No SMTPUTF8 in this version: a non-ASCII local part could never be delivered.
    """
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Not a deliverable email address: {exc}") from None
    return (checked.ascii_email or checked.normalized).lower()


class PhoneNumber(Text):
    """A mobile number, national input read in `region`, always returned as E.164."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": PHONE_PATTERN, "example": E164_EXAMPLE}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        return normalise_phone(text, services().settings.phone_default_region)


def normalise_phone(text: str, region: str | None) -> str:
    """The E.164 form of a number that can take an SMS, or a ValidationError saying why not."""
    if not _PHONE_CHARS.match(text):
        raise ValidationError(f"Must be a phone number such as {E164_EXAMPLE}.")
    if not text.startswith("+") and region is None:
        raise ValidationError(f"Must be an E.164 number such as {E164_EXAMPLE}.")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"Must be a phone number such as {E164_EXAMPLE}.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.")
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise ValidationError("A fixed line cannot receive SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
