"""Schemas of confirming an address by hand (POST /v1/admin/accounts/<id>/confirm)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_service.fields import Text
from api_service.schemas import StrictSchema
from shared.accounts.accounts import ADDRESS_FIELDS
from shared.operations import ConfirmOutcome
from shared.vocabulary import UserStatus

# The longest reason an operator gives; the audit keeps it.
REASON_LENGTH = 500


class ConfirmSchema(StrictSchema):
    """Body of POST /v1/admin/accounts/<id>/confirm: which address, and why."""

    address = Text(required=True, validate=validate.OneOf(ADDRESS_FIELDS))
    reason = Text(
        required=True,
        validate=validate.Length(min=1, max=REASON_LENGTH),
        metadata={"description": "How the person was checked; kept in the audit."},
    )


class ConfirmedSchema(Schema):
    """Answer of POST /v1/admin/accounts/<id>/confirm: what was done, and the account's status."""

    user_id = fields.Integer(required=True)
    address = fields.String(required=True, validate=validate.OneOf(ADDRESS_FIELDS))
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(
            [ConfirmOutcome.ACTIVATED, ConfirmOutcome.PROVEN, ConfirmOutcome.ALREADY_PROVEN]
        ),
    )
    status = fields.String(required=True, validate=validate.OneOf(list(UserStatus)))
