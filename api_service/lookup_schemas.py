"""Schemas of the support lookup (/v1/admin/messages, /v1/admin/accounts, an account's
events)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_service.fields import Address
from api_service.schemas import AddressSchema, StrictSchema
from shared.database.models import MAX_ID


class PageQuerySchema(StrictSchema):
    """Query of a list read newest first: `before`, the cursor of the page to show."""

    before = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID), metadata={"description": "`next` of a page."}
    )


class LookupQuerySchema(PageQuerySchema):
    """Query of GET /v1/admin/messages."""

    recipient = Address(required=True, validate=validate.Length(min=1, max=254))


class SentSchema(Schema):
    """A message to the address looked up; never its code or body."""

    id = fields.String(required=True)
    purpose = fields.String(required=True)
    channel = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    dead_reason = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)


class SentPageSchema(Schema):
    """Every message to an address, newest first, a page at a time."""

    items = fields.List(fields.Nested(SentSchema), required=True)
    next = fields.Integer(allow_none=True, required=True)


class AccountsQuerySchema(AddressSchema):
    """Query of GET /v1/admin/accounts: an email address, a phone number, or both."""


class AccountSchema(Schema):
    """An account holding the address looked up."""

    id = fields.Integer(required=True)
    email = fields.String(allow_none=True)
    email_proven = fields.Boolean(required=True)
    phone = fields.String(allow_none=True)
    phone_proven = fields.Boolean(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    activated_at = fields.DateTime(allow_none=True)


class AccountListSchema(Schema):
    """Answer of GET /v1/admin/accounts."""

    items = fields.List(fields.Nested(AccountSchema), required=True)


class AccountEventSchema(Schema):
    """One event of an account's history; never a password or a code."""

    type = fields.String(required=True)
    at = fields.DateTime(required=True)
    client = fields.String(allow_none=True, required=True)
    detail = fields.Dict(
        keys=fields.String(), values=fields.String(), allow_none=True, required=True
    )


class AccountEventPageSchema(Schema):
    """Answer of GET /v1/admin/accounts/<id>/events: the account's history, newest first."""

    items = fields.List(fields.Nested(AccountEventSchema), required=True)
    next = fields.Integer(allow_none=True, required=True)
