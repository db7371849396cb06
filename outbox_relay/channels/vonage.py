"""SMS through Vonage's SMS API, with plain HTTP (no SDK)."""

from __future__ import annotations

from typing import Any

import httpx

from outbox_relay.channels import Message, SmsMessage
from outbox_relay.channels.http import json_object, post
from outbox_relay.failures import DeliveryFailure, Verdict, sms_api_failure
from shared.config import SMS_TIMEOUT
from shared.sms_segments import Encoding, segments
from shared.sms_url import SmsProvider, vonage_callback


class VonageChannel:
    """POSTs `api_key`, `api_secret`, `from` and `to` (numbers as digits, no `+`), `text`,
    `type=unicode` when the text is not GSM-7 and, with PUBLIC_URL, the `callback` its
    receipts come back to; the first part's `message-id` is the provider's id of the message."""

    def __init__(
        self,
        provider: SmsProvider,
        public_url: str | None,
        secret_key: str,
        timeout: float = SMS_TIMEOUT,
    ) -> None:
        assert provider.account is not None and provider.secret is not None
        self._url = f"{provider.endpoint}/sms/json"
        self._fields = {
            "api_key": provider.account,
            "api_secret": provider.secret,
            "from": (provider.sender or "").removeprefix("+"),
        }
        if public_url:
            # Authenticated by the key it carries: Vonage posts to it with no credentials.
            self._fields["callback"] = vonage_callback(public_url, secret_key)
        self._client = httpx.Client(timeout=timeout)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one SMS; each part's `status` says whose failure it is."""
        assert isinstance(message, SmsMessage)
        fields = {**self._fields, "to": message.to.removeprefix("+"), "text": message.body}
        if segments(message.body).encoding is Encoding.UCS_2:
            # Else Vonage would replace what GSM-7 cannot carry (`ê`).
            fields["type"] = "unicode"
        parts = _parts(post(self._client, self._url, _judge, data=fields))
        message_id = parts[0].get("message-id")
        return message_id if isinstance(message_id, str) else None

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()


def _parts(response: httpx.Response) -> list[dict[str, Any]]:
    """The answer's `messages`, one per part sent."""
    parts = json_object(response).get("messages")
    if not isinstance(parts, list) or not parts:
        return []
    return [part if isinstance(part, dict) else {} for part in parts]


def _judge(response: httpx.Response) -> DeliveryFailure | None:
    """Vonage's answer: a 200 whose every part has `status` "0" is accepted, else the first
    other part's status and `error-text`."""
    if response.status_code != 200:
        return sms_api_failure("Vonage", response.status_code, None, response.reason_phrase)
    parts = _parts(response)
    if not parts:
        # The message may have left: tried again, as at-least-once has it.
        return DeliveryFailure(Verdict.TRANSIENT, "Vonage answered 200 without messages")
    for part in parts:
        status = str(part.get("status"))
        if status != "0":
            code = int(status) if status.isdigit() else None
            return sms_api_failure("Vonage", 200, code, str(part.get("error-text", "")))
    return None
