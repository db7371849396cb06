"""Amazon SES notifications as Amazon SNS posts them, read into ProviderEvents."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from api_service.problems import validation_problem
from api_service.provider_feeds import FeedPost, check_storable
from api_service.request_body import load
from shared.reports.provider_events import ProviderEvent, ProviderEventType

log = logging.getLogger(__name__)


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


# SES event types Outpost does not act on, by either spelling (`notificationType`, or
# `eventType` with event publishing), and their name in the metrics: answered 200, since a
# refusal would have SNS retry them for an hour. SES posts the last one when the topic is set up.
IGNORED = {
    "Send": "send",
    "DeliveryDelay": "delivery_delay",
    "Reject": "reject",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "rendering_failure",
    "Subscription": "subscription",
    "AmazonSnsSubscriptionSucceeded": "subscription_succeeded",
}


def ses_post(payload: Any) -> FeedPost:
    """One SNS post of an SES notification; a SubscriptionConfirmation is logged for the
    operator and carries no event."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Type"), str):
        raise validation_problem([("Type", "An Amazon SNS message is required.")])
    check_storable(payload)
    if payload["Type"] == "SubscriptionConfirmation":
        log.warning(
            "SNS subscription to confirm: open its SubscribeURL once",
            extra={"topic": payload.get("TopicArn"), "url": payload.get("SubscribeURL")},
        )
        return FeedPost([])
    if payload["Type"] != "Notification":
        return FeedPost([])
    notification_id = payload.get("MessageId")
    if notification_id is not None and not (
        isinstance(notification_id, str) and 0 < len(notification_id) <= 100
    ):
        raise validation_problem([("MessageId", "A string of 1 to 100 characters.")])
    notification, others = _notification(payload.get("Message"))
    kind = notification.get("notification_type") or notification.get("event_type")
    if kind in IGNORED:
        return FeedPost([], notification_id, ignored=(IGNORED[kind],))
    return FeedPost(_ses_events(notification, kind, others), notification_id)


def _ses_events(notification: dict[str, Any], kind: Any, others: int) -> list[ProviderEvent]:
    """The event of an SES notification (Bounce, Complaint, Delivery) about its one message,
    and how many `others` recipients it named beside that message's."""
    mail = notification.get("mail") or {}
    # What every event of this notification shares: where it came from, which message.
    event = partial(
        ProviderEvent,
        source="ses",
        message_id=_original_message_id(mail),
        provider_id=mail.get("message_id"),
        others=others,
    )
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        return [
            event(
                type=ProviderEventType.BOUNCE,
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
                type=ProviderEventType.COMPLAINT,
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
                type=ProviderEventType.DELIVERY,
                permanent=False,
                recipient=recipient,
                diagnostic=delivery.get("smtp_response"),
            )
            for recipient in delivery.get("recipients") or [None]
        ]
    raise validation_problem([("Message", f"Not an SES notification type: {kind!r}.")])


def _notification(message: Any) -> tuple[dict[str, Any], int]:
    """The SES notification SNS carries as the string `Message`, read as a body is: every
    field Outpost reads of the right type, and no string a database cannot store; and how many
    recipients it named beyond the first of each list (`_first_recipients`)."""
    try:
        notification = json.loads(message) if isinstance(message, str) else None
    except (ValueError, RecursionError):
        notification = None
    if not isinstance(notification, dict):
        raise validation_problem([("Message", "Not an SES notification.")])
    others = _first_recipients(notification)
    check_storable(notification, under="Message")
    loaded: dict[str, Any] = load(_SesNotification(), notification, under="Message")
    return loaded, others


# Where an SES notification lists the recipients its report is about.
_RECIPIENT_LISTS = (
    ("bounce", "bouncedRecipients"),
    ("complaint", "complainedRecipients"),
    ("delivery", "recipients"),
)


def _first_recipients(notification: dict[str, Any]) -> int:
    """Cut each list of recipients to its first; how many it named beyond.

    A notification is about one mail, and Outpost sends each mail to one recipient: whatever
    else a report names is no message of ours. Counted, never read, so that a report naming
    10,000 recipients costs no more than one naming one."""
    others = 0
    for part, field in _RECIPIENT_LISTS:
        section = notification.get(part)
        if isinstance(section, dict) and isinstance(section.get(field), list):
            others += max(len(section[field]) - 1, 0)
            section[field] = section[field][:1]
    return others


def _recipients(part: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipients of a bounce or complaint."""
    recipients: list[dict[str, Any]] = part.get("recipients") or []
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
