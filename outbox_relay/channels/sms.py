"""SMS through any provider of shared/sms_providers, as its spec writes each request and judges
each answer."""

from __future__ import annotations

from outbox_relay.channels import Message, SmsMessage
from outbox_relay.channels.http import Exchange
from shared.settings.config import SMS_TIMEOUT, Settings
from shared.sms_providers.spec import SmsProvider, SmsSpec


class SmsApiChannel:
    """Hands each SMS to one provider as its spec says, over pooled HTTP connections."""

    def __init__(
        self,
        spec: SmsSpec,
        provider: SmsProvider,
        settings: Settings,
        timeout: float = SMS_TIMEOUT,
    ) -> None:
        self._spec = spec
        self._request = spec.requests(provider, settings.sms_context)
        self._exchange = Exchange(timeout)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one SMS; the spec says whose failure a refusal is, and the provider's id."""
        assert isinstance(message, SmsMessage)
        answer = self._exchange(self._request(message), self._spec.judge)
        return self._spec.provider_id(answer)

    def cut(self) -> None:
        """Nothing to break off: an HTTP send is bounded by its own timeout."""

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._exchange.close()
