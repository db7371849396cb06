"""SMS through Twilio's Messages API, with plain HTTP (no SDK)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from outbox_relay.channels import Message, SmsMessage
from outbox_relay.channels.http import json_object, post
from outbox_relay.failures import DeliveryFailure, sms_api_failure
from shared.config import SMS_TIMEOUT
from shared.sms_url import SmsKind, SmsProvider, receipts_url


class TwilioChannel:
    """POSTs `To`, `From` (or `MessagingServiceSid`), `Body` and, with PUBLIC_URL, the
    `StatusCallback` its receipts come back to, form-encoded, with HTTP Basic (account SID,
    auth token); the answer's `sid` is the provider's id of the message."""

    def __init__(
        self, provider: SmsProvider, public_url: str | None, timeout: float = SMS_TIMEOUT
    ) -> None:
        assert provider.account is not None and provider.secret is not None
        account = quote(provider.account, safe="")
        self._url = f"{provider.endpoint}/2010-04-01/Accounts/{account}/Messages.json"
        self._fields = (
            {"MessagingServiceSid": provider.messaging_service_sid}
            if provider.messaging_service_sid
            else {"From": provider.sender or ""}
        )
        if public_url:
            self._fields["StatusCallback"] = receipts_url(public_url, SmsKind.TWILIO)
        self._client = httpx.Client(timeout=timeout, auth=(provider.account, provider.secret))

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one SMS; Twilio's error code says whose failure it is."""
        assert isinstance(message, SmsMessage)
        fields = {"To": message.to, **self._fields, "Body": message.body}
        sid = json_object(post(self._client, self._url, _judge, data=fields)).get("sid")
        return sid if isinstance(sid, str) else None

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()


def _judge(response: httpx.Response) -> DeliveryFailure | None:
    """Twilio's answer: 2xx is accepted, else its error JSON's `code` and `message`."""
    if response.is_success:
        return None
    body = json_object(response)
    code = body.get("code")
    text = body.get("message") or response.reason_phrase
    return sms_api_failure(
        "Twilio", response.status_code, code if isinstance(code, int) else None, str(text)
    )
