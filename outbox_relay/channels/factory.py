"""Building each provider's channel from the settings: mail (SMTP or an HTTP API) and SMS, each
with its fallback, and the webhook endpoint.

The HTTP channels load with the first provider that speaks HTTP: a relay delivering by SMTP
alone starts without an HTTP client (docs/decisions/0032-commands-load-what-they-use.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from outbox_relay.channels import ProviderChannel
from outbox_relay.channels.sms_log import SmsLogChannel
from outbox_relay.channels.smtp import SmtpChannel
from shared.accounts.addresses import Sender
from shared.mail_providers.registry import api_named
from shared.mail_providers.spec import MailApi, MailProvider
from shared.settings.config import Settings
from shared.settings.sms_url import LOG
from shared.sms_providers.registry import spec_named
from shared.sms_providers.spec import SmsProvider

# Called before each message handed to a provider, with the provider's name, the time
# (time.monotonic) after which the message must not be handed over, and the message's
# priority (pacing.Pacer.pace).
Pace = Callable[[str, float, int], None]
ChannelFactory = Callable[[str], ProviderChannel]


def default_channels(settings: Settings, pace: Pace | None = None) -> ChannelFactory:
    """Build the channel of provider `smtp`, `smtp_fallback` (the two mail slots, whichever
    provider fills them), `sms`, `sms_fallback` or `webhook`."""

    def build(provider: str) -> ProviderChannel:
        if provider in ("smtp", "smtp_fallback"):
            first = provider == "smtp"
            mail = settings.mail_provider if first else settings.mail_fallback_provider
            assert mail is not None
            return mail_channel(mail, settings.mail_from, partial(pace, provider) if pace else None)
        sms = {"sms": settings.sms, "sms_fallback": settings.sms_fallback}.get(provider)
        if sms is not None:
            return sms_channel(sms, settings)
        if provider == "webhook":
            from outbox_relay.channels.webhook import WebhookChannel

            return WebhookChannel(settings.webhook_url, settings.webhook_secret)
        raise ValueError(f"no provider {provider!r} configured")

    return build


def mail_channel(
    provider: MailProvider, mail_from: Sender, pace: Callable[[float, int], None] | None
) -> ProviderChannel:
    """The channel speaking to one mail provider: its SMTP server, or its API as its spec says."""
    if isinstance(provider, MailApi):
        from outbox_relay.channels.mail_api import MailApiChannel

        return MailApiChannel(api_named(provider.kind), provider, mail_from, pace)
    return SmtpChannel(provider, pace)


def sms_channel(provider: SmsProvider, settings: Settings) -> ProviderChannel:
    """The channel speaking to one SMS provider as its spec says (`log:`: to the log)."""
    if provider.kind == LOG:
        return SmsLogChannel()
    from outbox_relay.channels.sms import SmsApiChannel

    return SmsApiChannel(spec_named(provider.kind), provider, settings)
