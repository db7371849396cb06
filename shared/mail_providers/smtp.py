"""SMTP as a mail provider: `smtp://…` and `smtps://…` read as SMTP_URL is; its session, and how
each reply is judged, are the relay's SMTP channel (outbox_relay/channels/smtp.py)."""

from __future__ import annotations

from shared.mail_providers.spec import MailSpec
from shared.settings.smtp_url import SmtpSettings, parse_smtp_url


class Smtp(MailSpec):
    """An SMTP server: a submission service, a smarthost, a provider's SMTP interface."""

    name = "smtp"
    label = "SMTP"
    schemes = frozenset({"smtp", "smtps"})

    def parse(self, url: str) -> SmtpSettings:
        """As SMTP_URL (shared/settings/smtp_url.py)."""
        return parse_smtp_url(url)


SPEC = Smtp()
