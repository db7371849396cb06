"""The rules that tie several settings together, beside each variable's own declaration
(shared/settings/), DATABASE_URL required in production, and the error they all raise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.settings.relay import DEFAULT_CONCURRENCY
from shared.settings.variable import ConfigError
from shared.sms_providers.template import SPEC as TEMPLATED_SPEC

if TYPE_CHECKING:
    from shared.settings.config import Settings

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ConfigError",
    "check_slots",
    "check_together",
    "require_database_url",
]

# The two mail slots, each by the variables that may fill it (SPEC: one of them at most).
_MAIL_SLOTS = (("SMTP_URL", "MAIL_URL"), ("SMTP_FALLBACK_URL", "MAIL_FALLBACK_URL"))


def require_database_url(environ: Mapping[str, str]) -> None:
    """Raise ConfigError unless DATABASE_URL is set: `outpost serve`, `outpost migrate` and
    `outbox-relay run` never fall back to a file in their working directory (`outpost up`, and
    the operator commands run beside it, do)."""
    if not environ.get("DATABASE_URL", "").strip():
        raise ConfigError(
            "DATABASE_URL: required, e.g. postgresql://outpost_app@127.0.0.1:5432/outpost or "
            "sqlite:////var/lib/outpost/outpost.db (only `outpost up` defaults to a file)"
        )


def check_slots(environ: Mapping[str, str]) -> None:
    """Raise ConfigError when a mail slot is filled twice: SMTP_URL and MAIL_URL name the
    same provider's place, and so do their fallbacks."""
    for smtp, api in _MAIL_SLOTS:
        if environ.get(smtp) and environ.get(api):
            raise ConfigError(f"{api}: the same slot as {smtp}, which is set too: keep one of them")


def check_together(settings: Settings) -> None:
    """The rules between variables, once each has its value."""
    if settings.relay_lease_seconds <= settings.longest_send + 1:
        raise ConfigError(
            f"RELAY_LEASE_SECONDS: must exceed the longest send ({settings.longest_send:g}s: "
            "the slowest provider's longest send) by more than 1s, or a send could outlive its "
            "lease"
        )
    if settings.sms_request and not any(
        p.kind == TEMPLATED_SPEC.name for p in settings.sms_providers
    ):
        raise ConfigError(
            "SMS_REQUEST_TEMPLATE: needs an https:// SMS_URL or SMS_FALLBACK_URL, the gateway "
            "whose requests it writes"
        )
    if settings.sms_fallback_url and not settings.sms_url:
        raise ConfigError("SMS_FALLBACK_URL: needs SMS_URL, the provider it stands in for")
    if settings.webhook_url and settings.webhook_secret is None:
        raise ConfigError(
            "WEBHOOK_SECRET: required with WEBHOOK_URL: whsec_ followed by a base64 key "
            '(e.g. `python3 -c "import base64, secrets; '
            "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\"`)"
        )
    if settings.login_requires_provisioning and not settings.webhook_url:
        raise ConfigError(
            "LOGIN_REQUIRES_PROVISIONING: needs WEBHOOK_URL, the application whose answer to "
            "account.activated lets an account sign in"
        )
