"""Mail through any HTTP API of shared/mail_providers, as its spec writes each request and
judges each answer: the mail SMTP would carry, in parts or as its raw bytes."""

from __future__ import annotations

from collections.abc import Callable

from outbox_relay.channels import Email, Message
from outbox_relay.channels.http import Exchange
from shared.accounts.addresses import Sender
from shared.mail_providers.spec import MAIL_API_TIMEOUT, ApiSpec, MailApi


class MailApiChannel:
    """Hands each mail to one provider's API as its spec says, over pooled HTTP connections;
    `pace` is called before each request, as SMTP's before MAIL FROM (SMTP_RATE counts there),
    with the time the mail must be handed over by and its priority."""

    def __init__(
        self,
        spec: ApiSpec,
        provider: MailApi,
        mail_from: Sender,
        pace: Callable[[float, int], None] | None = None,
        timeout: float = MAIL_API_TIMEOUT,
    ) -> None:
        self._spec = spec
        self._request = spec.requests(provider, mail_from)
        self._pace = pace
        self._exchange = Exchange(timeout)

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one mail; the spec says whose failure a refusal is, and the provider's id."""
        assert isinstance(message, Email)
        if self._pace is not None:
            self._pace(start_by, message.priority)
        answer = self._exchange(self._request(message), self._spec.judge)
        return self._spec.provider_id(answer)

    def cut(self) -> None:
        """Nothing to break off: an HTTP send is bounded by its own timeout."""

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._exchange.close()
