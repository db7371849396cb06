"""Schemas of the admin API (/v1/admin/…)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api_service.fields import Address, Text
from api_service.schemas import AddressSchema, StrictSchema, check_sms_offered
from shared.database.models import MAX_ID
from shared.messaging.suppressions import REASONS
from shared.operations import BULK_RETRY_CAP, FILTER_CHOICES, MAX_PAGE, Remedy
from shared.reports.provider_events import SOURCES, TYPES


class DeadFilterSchema(StrictSchema):
    """Which dead letters: every field given must match."""

    channel = Text(validate=validate.OneOf(FILTER_CHOICES["channel"]))
    purpose = Text(validate=validate.OneOf(FILTER_CHOICES["purpose"]))
    reason = Text(validate=validate.OneOf(FILTER_CHOICES["reason"]))
    recipient = Text(validate=validate.Length(min=1, max=254))
    since = fields.AwareDateTime(metadata={"description": "Created at or after (ISO 8601)."})


class DeadListQuerySchema(DeadFilterSchema):
    """Query of GET /v1/admin/dead-letters."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "`next_cursor` of a page."},
    )


class BulkRetrySchema(DeadFilterSchema):
    """Body of POST /v1/admin/dead-letters/retry."""

    limit = fields.Integer(
        load_default=BULK_RETRY_CAP, validate=validate.Range(min=1, max=BULK_RETRY_CAP)
    )


class DeadLetterSchema(Schema):
    """A dead letter in a list."""

    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    channel = fields.String(required=True)
    purpose = fields.String(required=True)
    recipient = fields.String(required=True)
    attempts = fields.Integer(required=True)
    dead_reason = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)


class DeadPageSchema(Schema):
    """A page of dead letters, newest first."""

    items = fields.List(fields.Nested(DeadLetterSchema), required=True)
    next_cursor = fields.Integer(allow_none=True, required=True)


class AttemptSchema(Schema):
    """One delivery attempt."""

    attempted_at = fields.DateTime(required=True)
    outcome = fields.String(required=True)
    duration_ms = fields.Integer(required=True)
    error = fields.String(allow_none=True)


class ProviderEventSchema(Schema):
    """What a provider reported about a message after it took it."""

    at = fields.DateTime(required=True)
    type = fields.String(required=True, metadata={"enum": list(TYPES)})
    permanent = fields.Boolean(required=True)
    source = fields.String(required=True, metadata={"enum": list(SOURCES)})
    diagnostic = fields.String(allow_none=True)


class MessageDetailSchema(DeadLetterSchema):
    """A message with its attempts and provider events; never its parameters or secrets."""

    locale = fields.String(required=True)
    status = fields.String(required=True)
    sent_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    replaced_by = fields.String(allow_none=True)
    history = fields.List(fields.Nested(AttemptSchema), required=True)
    provider_events = fields.List(fields.Nested(ProviderEventSchema), required=True)


class RetryResultSchema(Schema):
    """What a retry did."""

    id = fields.String(required=True)
    outcome = fields.String(
        required=True,
        metadata={
            "description": "fresh_code, requeued, not_dead, not_found, already_active, "
            "account_gone, no_address, suppressed (the address still is) or endpoint_gone "
            "(the webhook endpoint of the event was removed)"
        },
    )
    delivery = fields.String(allow_none=True)


class BulkRetryResultSchema(Schema):
    """What a bulk retry did, row by row."""

    retried = fields.Integer(required=True)
    results = fields.List(fields.Nested(RetryResultSchema), required=True)


class DiscardResultSchema(Schema):
    """Answer of a discard."""

    id = fields.String(required=True)
    discarded = fields.Boolean(required=True)


class StatsSchema(Schema):
    """Delivery figures."""

    by_status = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer())
    )
    oldest_due_age_seconds = fields.Float(required=True)
    sent_last_hour = fields.Integer(
        required=True, metadata={"description": "Messages sent, last hour."}
    )
    failed_last_hour = fields.Integer(
        required=True,
        metadata={"description": "Attempts that failed (transient or permanent), last hour."},
    )
    dead_unresolved = fields.Integer(required=True)
    dead_last_hour = fields.Integer(
        required=True, metadata={"description": "Messages that died, last hour."}
    )
    provider_down_last_hour = fields.Integer(
        required=True,
        metadata={
            "description": "Attempts that met a provider that was down (never counted "
            "against a message), last hour."
        },
    )


class StrandedSchema(Schema):
    """A pending account whose activation cannot arrive or no longer works."""

    user_id = fields.Integer(required=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    delivery = fields.String(required=True)
    why = fields.String(required=True, metadata={"description": "Why, in words."})
    remedy = fields.String(
        required=True,
        validate=validate.OneOf(list(Remedy)),
        metadata={
            "description": "What brings it back: `reissue` (POST .../reissue-activation), "
            "`remove_suppression` (POST /v1/admin/suppressions/remove with `recipient`, then "
            "reissue) or `retry_event` (retry the dead `account.activated` event, `delivery`)."
        },
    )
    reissuable = fields.Boolean(
        required=True,
        metadata={"description": "Whether a reissued activation can reach it (else see remedy)."},
    )
    recipient = fields.String(
        required=True, metadata={"description": "Where the latest activation went."}
    )


class StrandedListSchema(Schema):
    """Stranded accounts, oldest first."""

    items = fields.List(fields.Nested(StrandedSchema), required=True)


class ReissueSchema(Schema):
    """Answer of a reissued activation."""

    user_id = fields.Integer(required=True)
    delivery = fields.String(required=True)


class AuditEntrySchema(Schema):
    """One operator action."""

    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    target = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    summary = fields.String(required=True, metadata={"description": "What it did, in words."})


class AuditListSchema(Schema):
    """The newest operator actions first."""

    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


class SuppressionSchema(Schema):
    """A suppressed address: why, from which provider event, since when."""

    address = fields.String(
        allow_none=True, metadata={"description": "null once its account was erased"}
    )
    reason = fields.String(required=True, metadata={"enum": list(REASONS)})
    source = fields.String(required=True)
    event_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)


class SuppressionListSchema(Schema):
    """Answer of GET /v1/admin/suppressions."""

    items = fields.List(fields.Nested(SuppressionSchema), required=True)


class SuppressionRemovalSchema(StrictSchema):
    """Body of POST /v1/admin/suppressions/remove: a few addresses a call, so that any valid
    body fits the API's 16 KiB (`outbox-relay suppressions remove` takes any number)."""

    addresses = fields.List(
        Address(validate=validate.Length(min=1, max=254)),
        required=True,
        validate=validate.Length(min=1, max=5),
    )


class SuppressionRemovedSchema(Schema):
    """Answer of POST /v1/admin/suppressions/remove: the addresses that were suppressed."""

    removed = fields.List(fields.String(), required=True)


class ErasedSchema(Schema):
    """Answer of DELETE /v1/admin/users/<id>."""

    user_id = fields.Integer(required=True)
    erased = fields.Boolean(required=True)


class UnlockedSchema(Schema):
    """Answer of POST /v1/admin/users/<id>/unlock."""

    user_id = fields.Integer(required=True)
    unlocked = fields.Boolean(required=True)


class InvitationSchema(AddressSchema):
    """Body of POST /v1/admin/accounts: the one address of the account to make, an email
    address or a phone number (then SMS must be offered)."""

    @validates_schema(skip_on_field_errors=True)
    def _one_address(self, data: dict[str, Any], **_: Any) -> None:
        if "email" in data and "phone" in data:
            raise ValidationError("Invite one address: an email or a phone number.", "phone")
        if "phone" in data:
            check_sms_offered("phone")


class InvitedSchema(Schema):
    """Answer of POST /v1/admin/accounts: the pending account made and its activation code's
    message (GET /v1/deliveries/<delivery>)."""

    user_id = fields.Integer(required=True)
    delivery = fields.String(required=True)
