"""Providers' delivery webhooks read into ProviderEvents: Outpost's own JSON, and Amazon SES
notifications as Amazon SNS posts them; and the token that guards both.

SNS signs its posts, but checking a signature means fetching Amazon's certificate, and no
request of the API calls out: the guard is PROVIDER_EVENTS_TOKEN, which SNS presents as the
password of HTTP Basic (`https://outpost:TOKEN@host/v1/provider-events/ses`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Request
from marshmallow import EXCLUDE, Schema, fields

from api_service.admin_auth import wrong_token_wait
from api_service.fields import storable
from api_service.flows.errors import TooManyRequests
from api_service.problems import Problem, validation_problem
from api_service.request_body import load, read_json
from shared.provider_events import ProviderEvent

log = logging.getLogger(__name__)

# The most events one post may carry, and its largest body.
MAX_EVENTS = 1000
MAX_BODY_BYTES = 1024 * 1024


def _challenge() -> Problem:
    """The 401 that asks for the token; SNS sends its Basic credentials only after it."""
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "Present PROVIDER_EVENTS_TOKEN as a Bearer token or as the HTTP Basic password.",
        headers={"WWW-Authenticate": 'Basic realm="provider-events"'},
    )


def authenticate(request: Request, token: str | None) -> None:
    """404 when no token is configured; 401 unless the request presents it, as a Bearer token
    or as the password of HTTP Basic, compared in constant time.

    Only wrong credentials count against the client's address: SNS posts without any until it
    is challenged, so a request that brings none gets the challenge every time.
    """
    if token is None:
        raise Problem(404, "not-found", "Not Found", "No such route.")
    credentials = request.headers.get("Authorization", "").strip()
    if not credentials:
        raise _challenge()
    scheme, _, value = credentials.partition(" ")
    presented = ""
    if scheme.lower() == "bearer":
        presented = value.strip()
    elif scheme.lower() == "basic":
        try:
            presented = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            presented = ""
    if not hmac.compare_digest(presented.encode(), token.encode()):
        wait = wrong_token_wait()
        if wait:
            raise TooManyRequests(wait, "Too many wrong tokens from this address.")
        raise _challenge()


def body_json(request: Request, *, text_allowed: bool) -> Any:
    """The body as JSON (up to MAX_BODY_BYTES); SNS posts it as text/plain."""
    allowed = ("application/json", "text/plain") if text_allowed else ("application/json",)
    return read_json(request, media_types=allowed, max_bytes=MAX_BODY_BYTES)


# Providers' diagnostics may carry line breaks, but no string may hold what no database stores.
UNSTORABLE = "Must not contain NUL or unpaired surrogates."


def _unstorable(payload: Any, under: str) -> Iterator[str]:
    """The pointers of the strings (values and keys) that hold NUL or an unpaired surrogate."""
    stack: list[tuple[str, Any]] = [(under, payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    yield where.lstrip("/")
                stack.append((f"{where}/{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}/{n}", item) for n, item in enumerate(value))
        elif isinstance(value, str) and not storable(value):
            yield where.lstrip("/")


def _check_storable(payload: Any, *, under: str = "") -> None:
    """A 422 naming (up to ten of) the strings in `payload` that no database stores."""
    unstorable = list(_unstorable(payload, under))
    if unstorable:
        raise validation_problem((where, UNSTORABLE) for where in unstorable[:10])


def outpost_events(payload: Any) -> list[ProviderEvent]:
    """`{"events": [{type, message_id | delivery_id, recipient, permanent, diagnostic}]}`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise validation_problem([("events", "A list of events is required.")])
    items = payload["events"]
    if len(items) > MAX_EVENTS:
        raise validation_problem([("events", f"At most {MAX_EVENTS} events a post.")])
    errors: list[tuple[str, str]] = []
    events = []
    for n, item in enumerate(items):
        where = f"events/{n}"
        if not isinstance(item, dict):
            errors.append((where, "An event is an object."))
            continue
        unknown = set(item) - {
            "type",
            "message_id",
            "delivery_id",
            "recipient",
            "permanent",
            "diagnostic",
        }
        errors += [(f"{where}/{name}", "Unknown field.") for name in sorted(unknown)]
        kind = item.get("type")
        if kind not in ("bounce", "complaint", "delivery"):
            errors.append((f"{where}/type", "One of bounce, complaint, delivery."))
        references = [item[k] for k in ("message_id", "delivery_id") if k in item]
        reference = references[0] if references else None
        if not references or not all(isinstance(r, str) and 0 < len(r) <= 300 for r in references):
            errors.append((f"{where}/message_id", "A message_id or delivery_id is required."))
        permanent = item.get("permanent", kind == "complaint")
        if not isinstance(permanent, bool):
            errors.append((f"{where}/permanent", "Must be true or false."))
        for name in ("recipient", "diagnostic"):
            value = item.get(name)
            if name in item and not (isinstance(value, str) and len(value) <= 1000):
                errors.append((f"{where}/{name}", "A string of at most 1000 characters."))
        for name in ("message_id", "delivery_id", "recipient", "diagnostic"):
            value = item.get(name)
            if isinstance(value, str) and not storable(value):
                errors.append((f"{where}/{name}", UNSTORABLE))
        if not errors:
            events.append(
                ProviderEvent(
                    type=str(kind),
                    permanent=bool(permanent),
                    source="outpost",
                    recipient=item.get("recipient"),
                    diagnostic=item.get("diagnostic"),
                    message_id=str(reference),
                )
            )
    if errors:
        raise validation_problem(errors)
    return events


class _SesPart(Schema):
    """Part of an SES notification: the fields Outpost reads, typed. Null counts as absent, and
    whatever else SES sends (it adds fields over time) is left alone."""

    class Meta:
        unknown = EXCLUDE

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        field_obj.allow_none = True


class _Header(_SesPart):
    name = fields.String()
    value = fields.String()


class _CommonHeaders(_SesPart):
    message_id = fields.String(data_key="messageId")


class _Mail(_SesPart):
    message_id = fields.String(data_key="messageId")
    common_headers = fields.Nested(_CommonHeaders, data_key="commonHeaders")
    headers = fields.List(fields.Nested(_Header))


class _Recipient(_SesPart):
    email_address = fields.String(data_key="emailAddress")
    diagnostic_code = fields.String(data_key="diagnosticCode")


class _Bounce(_SesPart):
    bounce_type = fields.String(data_key="bounceType")
    bounce_sub_type = fields.String(data_key="bounceSubType")
    recipients = fields.List(fields.Nested(_Recipient), data_key="bouncedRecipients")


class _Complaint(_SesPart):
    feedback_type = fields.String(data_key="complaintFeedbackType")
    recipients = fields.List(fields.Nested(_Recipient), data_key="complainedRecipients")


class _Delivery(_SesPart):
    smtp_response = fields.String(data_key="smtpResponse")
    recipients = fields.List(fields.String())


class _SesNotification(_SesPart):
    notification_type = fields.String(data_key="notificationType")
    event_type = fields.String(data_key="eventType")
    mail = fields.Nested(_Mail)
    bounce = fields.Nested(_Bounce)
    complaint = fields.Nested(_Complaint)
    delivery = fields.Nested(_Delivery)


@dataclass(frozen=True)
class SnsPost:
    """What one SNS post brings: its events, and SNS's id of the notification (the same in
    every retry of it)."""

    events: list[ProviderEvent]
    notification_id: str | None = None


def ses_post(payload: Any) -> SnsPost:
    """One SNS post of an SES notification; a SubscriptionConfirmation is logged for the
    operator and carries no event."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Type"), str):
        raise validation_problem([("Type", "An Amazon SNS message is required.")])
    _check_storable(payload)
    if payload["Type"] == "SubscriptionConfirmation":
        log.warning(
            "SNS subscription to confirm: open its SubscribeURL once",
            extra={"topic": payload.get("TopicArn"), "url": payload.get("SubscribeURL")},
        )
        return SnsPost([])
    if payload["Type"] != "Notification":
        return SnsPost([])
    notification_id = payload.get("MessageId")
    if notification_id is not None and not (
        isinstance(notification_id, str) and 0 < len(notification_id) <= 100
    ):
        raise validation_problem([("MessageId", "A string of 1 to 100 characters.")])
    return SnsPost(_ses_events(_notification(payload.get("Message"))), notification_id)


def _ses_events(notification: dict[str, Any]) -> list[ProviderEvent]:
    """The events of an SES notification (Bounce, Complaint, Delivery), one per recipient."""
    kind = notification.get("notification_type") or notification.get("event_type")
    mail = notification.get("mail") or {}
    # What every event of this notification shares: where it came from, which message.
    event = partial(
        ProviderEvent,
        source="ses",
        message_id=_original_message_id(mail),
        provider_id=mail.get("message_id"),
    )
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        return [
            event(
                type="bounce",
                permanent=bounce.get("bounce_type") == "Permanent",
                recipient=r.get("email_address"),
                diagnostic=r.get("diagnostic_code") or bounce.get("bounce_sub_type"),
            )
            for r in _recipients(bounce)
        ]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        return [
            event(
                type="complaint",
                permanent=True,
                recipient=r.get("email_address"),
                diagnostic=complaint.get("feedback_type"),
            )
            for r in _recipients(complaint)
        ]
    if kind == "Delivery":
        delivery = notification.get("delivery") or {}
        return [
            event(
                type="delivery",
                permanent=False,
                recipient=recipient,
                diagnostic=delivery.get("smtp_response"),
            )
            for recipient in (delivery.get("recipients") or [None])[:MAX_EVENTS]
        ]
    raise validation_problem([("Message", f"Not an SES notification type: {kind!r}.")])


def _notification(message: Any) -> dict[str, Any]:
    """The SES notification SNS carries as the string `Message`, read as a body is: every
    field Outpost reads of the right type, and no string a database cannot store."""
    try:
        notification = json.loads(message) if isinstance(message, str) else None
    except (ValueError, RecursionError):
        notification = None
    if not isinstance(notification, dict):
        raise validation_problem([("Message", "Not an SES notification.")])
    _check_storable(notification, under="Message")
    loaded: dict[str, Any] = load(_SesNotification(), notification, under="Message")
    return loaded


def _recipients(part: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipients of a bounce or complaint, at most MAX_EVENTS."""
    recipients: list[dict[str, Any]] = (part.get("recipients") or [])[:MAX_EVENTS]
    return recipients


def _original_message_id(mail: dict[str, Any]) -> str | None:
    """Our Message-ID, when SES includes the original headers."""
    common = mail.get("common_headers") or {}
    if common.get("message_id") is not None:
        return str(common["message_id"])
    for header in mail.get("headers") or []:
        if (header.get("name") or "").lower() == "message-id":
            value: str | None = header.get("value")
            return value
    return None
