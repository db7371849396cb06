"""Request schemas of the routes that take a code: the code, or its mail's link token in its
place (SPEC "Codes")."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from api_service.fields import Password
from api_service.schemas import AddressSchema

# Six digits and nothing else: the length keeps out the newline `$` lets through.
CODE = re.compile(r"^[0-9]{6}$")
CODE_ERROR = "Must be the 6 digits of the code."
# A link token: URL-safe base64 (shared.secrets.codes.new_link_token), its length checked apart.
TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
TOKEN_ERROR = "Must be the token of the code's link."


# What the schema cannot say (OpenAPI has it as two optional fields): exactly one of the two.
CODE_OR_TOKEN = ("A code or a token is required.", "A code or a token, not both.")


class CodeEntrySchema(AddressSchema):
    """The code sent to the addresses named, or its mail's link token in its place."""

    code = fields.String(
        validate=[
            validate.Length(equal=6, error=CODE_ERROR),
            validate.Regexp(CODE, error=CODE_ERROR),
        ],
        metadata={"example": "042917", "description": "The 6 digits of the code; or `token`."},
    )
    token = fields.String(
        validate=[
            validate.Length(min=16, max=64, error=TOKEN_ERROR),
            validate.Regexp(TOKEN, error=TOKEN_ERROR),
        ],
        metadata={
            "description": "The code's link token (CODE_LINK_URL's `{token}`) in the code's "
            "place: wrong codes typed by others never kill it."
        },
    )

    @validates_schema(skip_on_field_errors=True)
    def _code_or_token(self, data: dict[str, Any], **_: Any) -> None:
        if "code" not in data and "token" not in data:
            raise ValidationError(CODE_OR_TOKEN[0], "code")
        if "code" in data and "token" in data:
            raise ValidationError(CODE_OR_TOKEN[1], "token")


class ActivationSchema(CodeEntrySchema):
    """Body of POST /v1/activations; `password`, when given, becomes the account's (a
    contested account takes no activation without it)."""

    password = Password(required=False)


class ResetConfirmSchema(CodeEntrySchema):
    """Body of POST /v1/password-resets/confirm."""

    new_password = Password()


class LoginCodeConfirmSchema(CodeEntrySchema):
    """Body of POST /v1/login-codes/confirm."""
