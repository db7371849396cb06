"""Every mail provider Outpost speaks, registered once: the URL schemes MAIL_URL may use, the
relay's mail channels and `outpost check` come from SPECS. A new provider is its spec module,
added here, and its case in support/mail_conformance.py."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.mail_providers import mailgun, postmark, resend, sendgrid, ses, smtp
from shared.mail_providers.spec import ApiSpec, MailProvider, MailSpec

SPECS: tuple[MailSpec, ...] = (
    smtp.SPEC,
    postmark.SPEC,
    sendgrid.SPEC,
    mailgun.SPEC,
    ses.SPEC,
    resend.SPEC,
)

# The providers reached by their HTTP API, in SPECS' order.
APIS: tuple[ApiSpec, ...] = tuple(s for s in SPECS if isinstance(s, ApiSpec))


def api_named(name: str) -> ApiSpec:
    """The API spec a provider's `kind` names."""
    return next(spec for spec in APIS if spec.name == name)


def parse_mail_url(url: str) -> MailProvider:
    """The provider MAIL_URL (or MAIL_FALLBACK_URL) names, by its scheme."""
    scheme = urlsplit(url).scheme
    spec = next((spec for spec in SPECS if scheme in spec.schemes), None)
    if spec is None:
        raise ValueError(f"the scheme must be one of {', '.join(schemes())}, not {scheme!r}")
    return spec.parse(url)


def schemes() -> list[str]:
    """Every scheme some provider speaks, as an error lists them (`smtp://`, …)."""
    return [f"{scheme}://" for spec in SPECS for scheme in sorted(spec.schemes)]
