"""`outpost check`'s mail providers, slot by slot: an SMTP server greeted as the relay greets it
(outpost/check_smtp.py), an HTTP API reached by a read its provider documents, nothing sent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from outpost import check_smtp
from outpost.finding import Finding
from shared.mail_providers.registry import api_named
from shared.mail_providers.spec import MAIL_API_TIMEOUT, Answer, MailApi, MailProvider
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
    """Each slot's provider reached; `send_test`: one real mail through the primary, when SMTP."""
    for index, (variable, provider) in enumerate(slots(settings)):
        if isinstance(provider, MailApi):
            yield reached(variable, provider)
            if send_test is not None and index == 0:
                yield Finding.refused(
                    f"{variable} {provider.kind}",
                    "--send-test sends through SMTP only: send the test from the provider's "
                    "own dashboard",
                )
            continue
        greeted = check_smtp.greeted(variable, provider)
        yield greeted
        if send_test is not None and index == 0 and not greeted.problem:
            yield check_smtp.sent(variable, provider, settings.mail_from, send_test)


def reached(variable: str, provider: MailApi) -> Finding:
    """The provider's documented read (spec.check): reached, and the key taken, or why not;
    the key in no line."""
    spec = api_named(provider.kind)
    subject = f"{variable} {provider.kind} {provider.endpoint}"
    request = spec.check(provider)
    try:
        with httpx.Client(timeout=MAIL_API_TIMEOUT) as client:
            response = client.get(request.url, headers=dict(request.headers), auth=request.auth)
    except httpx.HTTPError as exc:
        said = f"not reached ({type(exc).__name__}: {exc}): check the host in {variable}"
        return Finding.refused(subject, said)
    headers = {name.lower(): value for name, value in response.headers.items()}
    answer = Answer(response.status_code, response.reason_phrase, response.content, headers)
    judgement = spec.checked(answer)
    if judgement is not None:
        return Finding.refused(subject, judgement.description)
    return Finding(subject, f"ok, {spec.label} reached and the key taken; no mail sent")
