"""`outpost check`'s mail providers, slot by slot: an SMTP server greeted as the relay greets it
(outpost/check_smtp.py), an HTTP API reached by a read its provider documents
(outpost/check_api.py), nothing sent; and `--send-test`'s one real mail through the primary,
whichever it is."""

from __future__ import annotations

from collections.abc import Iterator

from outpost import check_smtp
from outpost.finding import Finding
from shared.mail_providers.spec import MailApi, MailProvider
from shared.settings.config import Settings


def slots(settings: Settings) -> list[tuple[str, MailProvider]]:
    """Each mail slot filled, by the variable that fills it, the primary first."""
    filled = [
        ("MAIL_URL", settings.mail_url_provider) if settings.mail_url_provider else None,
        ("SMTP_URL", settings.smtp) if settings.mail_url_provider is None else None,
        ("MAIL_FALLBACK_URL", settings.mail_fallback_url_provider),
        ("SMTP_FALLBACK_URL", settings.smtp_fallback),
    ]
    return [(name, provider) for name, provider in filter(None, filled) if provider is not None]


def mail_findings(settings: Settings, send_test: str | None) -> Iterator[Finding]:
    """Each slot's provider reached; `send_test`: one real mail through the primary."""
    for index, (variable, provider) in enumerate(slots(settings)):
        if isinstance(provider, MailApi):
            # Loaded here: httpx and the relay's channel are for a configuration with an API.
            from outpost import check_api

            found = check_api.reached(variable, provider)
            yield found
            if send_test is not None and index == 0 and not found.problem:
                yield check_api.api_sent(variable, provider, settings.mail_from, send_test)
            continue
        greeted = check_smtp.greeted(variable, provider)
        yield greeted
        if send_test is not None and index == 0 and not greeted.problem:
            yield check_smtp.sent(variable, provider, settings.mail_from, send_test)
