"""Lifecycle events to the application's endpoint, signed as Standard Webhooks specifies."""

from __future__ import annotations

import time

import httpx

from outbox_relay.channels import Message, WebhookMessage
from outbox_relay.channels.http import post
from outbox_relay.failures import Deferred, DeliveryFailure, Verdict
from shared.messaging.standard_webhooks import signature
from shared.settings.config import WEBHOOK_TIMEOUT

# Seconds an event for WEBHOOK_URL waits, untried, on a relay without it (its horizon ends it).
UNCONFIGURED_WAIT = 60.0


class WebhookChannel:
    """POSTs each event with `webhook-id` (the row's public id, the same on every try),
    `webhook-timestamp` (this try's) and `webhook-signature`: to WEBHOOK_URL (`url`, signed
    with `key`), or to the endpoint the event names, signed with that endpoint's key."""

    def __init__(
        self, url: str | None, key: bytes | None, timeout: float = WEBHOOK_TIMEOUT
    ) -> None:
        self._url = url
        self._key = key
        self._client = httpx.Client(timeout=timeout)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one event; the answer is judged as the SMS gateway's is, but that an
        endpoint's failure is its event's alone: it never pauses the others' deliveries."""
        assert isinstance(message, WebhookMessage)
        if message.url is None:
            self._post(message, self._url, self._key)
            return None
        try:
            self._post(message, message.url, message.key)
        except DeliveryFailure as failure:
            if failure.verdict is not Verdict.PROVIDER_DOWN:
                raise
            raise DeliveryFailure(Verdict.TRANSIENT, failure.description) from failure
        return None

    def _post(self, message: WebhookMessage, url: str | None, key: bytes | None) -> None:
        """POST the event to `url`, signed with `key`."""
        if url is None or key is None:  # queued by an API with WEBHOOK_URL: wait for one
            raise Deferred(UNCONFIGURED_WAIT)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, message.id, timestamp, message.body),
        }
        post(self._client, url, content=message.body, headers=headers)

    def cut(self) -> None:
        """Nothing to break off: an HTTP send is bounded by its own timeout."""

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()
