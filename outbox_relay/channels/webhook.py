"""Lifecycle events to the application's endpoint, signed as Standard Webhooks specifies."""

from __future__ import annotations

import time

import httpx

from outbox_relay.channels import Message, WebhookMessage
from outbox_relay.channels.http import post
from shared.settings.config import WEBHOOK_TIMEOUT
from shared.standard_webhooks import signature


class WebhookChannel:
    """POSTs each event with `webhook-id` (the row's public id, the same on every try),
    `webhook-timestamp` (this try's) and `webhook-signature`."""

    def __init__(self, url: str, key: bytes, timeout: float = WEBHOOK_TIMEOUT) -> None:
        self._url = url
        self._key = key
        self._client = httpx.Client(timeout=timeout)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one event; the answer is judged as the SMS gateway's is."""
        assert isinstance(message, WebhookMessage)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._key, message.id, timestamp, message.body),
        }
        post(self._client, self._url, content=message.body, headers=headers)
        return None

    def cut(self) -> None:
        """Nothing to break off: an HTTP send is bounded by its own timeout."""

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()
