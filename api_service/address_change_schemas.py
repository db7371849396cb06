"""Request schemas of the address changes: the current address, and the one to take."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from api_service.code_schemas import CodeEntrySchema
from api_service.fields import EmailAddress, Password, PhoneNumber
from api_service.schemas import AddressSchema, captcha_field, check_sms_offered


class _NewAddressSchema(AddressSchema):
    """`email` or `phone`: the account's current address; `new_email` or `new_phone`: the one
    it is to take."""

    new_email = EmailAddress()
    new_phone = PhoneNumber()

    @validates_schema(skip_on_field_errors=True)
    def _one_new_address(self, data: dict[str, Any], **_: Any) -> None:
        named = [field for field in ("new_email", "new_phone") if field in data]
        if not named:
            raise ValidationError("A new email or a new phone number is required.", "new_email")
        if len(named) > 1:
            raise ValidationError("One address changes at a time.", "new_phone")
        if "new_phone" in data:
            check_sms_offered("new_phone")


class AddressChangeSchema(_NewAddressSchema):
    """Body of POST /v1/address-changes."""

    password = Password(policy=False)
    captcha_token = captcha_field()


class AddressChangeConfirmSchema(_NewAddressSchema, CodeEntrySchema):
    """Body of POST /v1/address-changes/confirm."""
