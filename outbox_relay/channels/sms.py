"""SMS through an HTTP gateway (the spec's webhook contract), or to the log for development."""

from __future__ import annotations

import logging
import re

import httpx

from outbox_relay.channels import Message, SmsMessage
from outbox_relay.channels.http import post
from shared.config import SMS_TIMEOUT

log = logging.getLogger(__name__)

# Runs of digits long enough to be a code are masked before an SMS reaches the log.
_CODE_LIKE = re.compile(r"\d{4,}")


class SmsGatewayChannel:
    """POSTs `{id, to, body}` with a bearer token and `Idempotency-Key: <id>`."""

    def __init__(self, url: str, token: str | None, timeout: float = SMS_TIMEOUT) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._url = url
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one SMS; failures are classified by HTTP status."""
        assert isinstance(message, SmsMessage)
        post(
            self._client,
            self._url,
            json={"id": message.id, "to": message.to, "body": message.body},
            headers={"Idempotency-Key": message.id},
        )
        return None

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()


class SmsLogChannel:
    """`SMS_URL=log:`: writes each SMS to the log with anything code-like masked."""

    def send(self, message: Message, start_by: float) -> str | None:
        """Log the SMS instead of sending it."""
        assert isinstance(message, SmsMessage)
        log.info(
            "sms id=%s to=%s body=%r",
            message.id,
            message.to,
            _CODE_LIKE.sub(lambda m: "•" * len(m.group()), message.body),
        )
        return None

    def close(self) -> None:
        """Nothing to release."""
