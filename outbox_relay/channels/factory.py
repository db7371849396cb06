"""Building each provider's channel from the settings: SMTP, its fallback, the SMS gateway."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from outbox_relay.channels import Channel
from outbox_relay.channels.sms import SmsGatewayChannel, SmsLogChannel
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.channels.webhook import WebhookChannel
from shared.config import Settings

# Called before each message handed to a provider, with the provider's name, the time
# (time.monotonic) after which the message must not be handed over, and the message's
# priority (pacing.Pacer.pace).
Pace = Callable[[str, float, int], None]
ChannelFactory = Callable[[str], Channel]


def default_channels(settings: Settings, pace: Pace | None = None) -> ChannelFactory:
    """Build the channel of provider `smtp`, `smtp_fallback`, `sms` or `webhook`."""

    def build(provider: str) -> Channel:
        if provider in ("smtp", "smtp_fallback"):
            smtp = settings.smtp if provider == "smtp" else settings.smtp_fallback
            assert smtp is not None
            return SmtpChannel(smtp, partial(pace, provider) if pace else None)
        if provider == "sms" and settings.sms_url == "log:":
            return SmsLogChannel()
        if provider == "sms" and settings.sms_url:
            return SmsGatewayChannel(settings.sms_url, settings.sms_token)
        if provider == "webhook" and settings.webhook_url and settings.webhook_secret:
            return WebhookChannel(settings.webhook_url, settings.webhook_secret)
        raise ValueError(f"no provider {provider!r} configured")

    return build
