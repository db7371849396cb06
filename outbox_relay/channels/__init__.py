"""Delivery channels behind one small interface: send a message or raise a DeliveryFailure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.mail_providers.spec import MailContent


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: the outbox public id doubles as the gateway's idempotency key."""

    id: str
    to: str
    body: str


@dataclass(frozen=True)
class Email:
    """One email ready for the wire: envelope sender and recipient, and the RFC 5322 bytes;
    `priority` orders it under SMTP_RATE (shared.messaging.outbox.priority_of: 0 first); `content`,
    what the bytes say in parts, for the APIs that take a mail so (None: a mail of bytes alone, as
    `outpost check --send-test` writes for SMTP); `reports`: whether it asks for delivery status
    notifications (RFC 3461) where the server offers them, its delivery id as their envelope id."""

    id: str
    sender: str
    recipient: str
    data: bytes
    priority: int = 1
    content: MailContent | None = None
    reports: bool = False


@dataclass(frozen=True)
class WebhookMessage:
    """One lifecycle event: its id (the `webhook-id`) and the JSON body, signed as sent; for
    an endpoint's event, that endpoint's URL and key (None: WEBHOOK_URL's)."""

    id: str
    body: bytes
    url: str | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)


Message = Email | SmsMessage | WebhookMessage


class ProviderChannel(Protocol):
    """Sends messages through one provider, keeping whatever connection it holds between sends."""

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver `message` or raise a DeliveryFailure; never hand it over after `start_by`
        (time.monotonic), when its lease could no longer cover the send (raise Deferred).

        Returns the provider's own id of the message, when its answer carries one.
        """

    def cut(self) -> None:
        """Break off, from another thread, a send waiting for the provider's reply (a stop that
        waited RELAY_STOP_SECONDS)."""

    def close(self) -> None:
        """Release the connection, if any."""
