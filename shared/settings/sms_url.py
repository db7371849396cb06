"""SMS_URL and SMS_FALLBACK_URL read: which SMS provider (shared/sms_providers), where its API
is, with what account; or `log:`."""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from shared.sms_providers.registry import schemes, spec_for
from shared.sms_providers.spec import SmsProvider

# `SMS_URL=log:`: SMS written to the log (development, `outpost up`).
LOG = "log"


def checked_sms_url(value: str) -> str | None:
    """SMS_URL as given, once it parses; None when unset."""
    if not value:
        return None
    parse_sms_url(value)
    return value


@cache
def parse_sms_url(url: str, templated: bool = False) -> SmsProvider:
    """Read `log:` or a provider's URL, by the spec its scheme names (the templated gateway's
    when SMS_REQUEST_TEMPLATE is set, `templated`); raise ValueError saying what is wanted,
    never echoing a credential."""
    if url == f"{LOG}:":
        return SmsProvider(LOG, "")
    spec = spec_for(urlsplit(url).scheme, templated)
    if spec is None:
        offered = ", ".join(f"{scheme}://" for scheme in schemes())
        raise ValueError(f"must be {offered} or log:, or unset to offer no SMS")
    return spec.parse(url)
