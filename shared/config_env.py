"""Reading the environment into Settings: each variable through its parser (config_values),
named in any error, in groups by what they configure, and the rules that tie several together."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from shared import config_values as values
from shared.captcha_url import parse_captcha_url
from shared.database_url import normalise_database_url
from shared.sms_providers.template import SPEC as TEMPLATED_SPEC
from shared.sms_providers.template import RequestFormat, headers_from, read_template
from shared.sms_url import checked_sms_url

if TYPE_CHECKING:
    from shared.config import Settings

T = TypeVar("T")

# Seconds one transaction of a request or of a relay poll may take against the database.
DEFAULT_DATABASE_TIMEOUT = 5.0
# Senders of a relay by default: enough for a provider that takes 100 to 300 ms a message to
# be handed 100 to 300 messages a second (README, "Sizing the relay").
DEFAULT_CONCURRENCY = 32
# The variables that name an SMS provider.
SMS_URLS = ("SMS_URL", "SMS_FALLBACK_URL")


class ConfigError(ValueError):
    """A configuration variable has a bad value; the message names it."""


class Env:
    """Reads one variable through a parser and names it in any error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get(self, name: str, default: str, parse: Callable[[str], T]) -> T:
        raw = self.environ.get(name)
        value = default if raw is None or raw == "" else raw
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        """The parsed value, or None when the variable is unset or empty."""
        return self.get(name, "", parse) if self.environ.get(name) else None


def database_fields(env: Env, database_url: str) -> dict[str, Any]:
    """DATABASE_URL's companions: the owner's URL, the pooler, LISTEN, the time bound."""
    pooler = env.get("DATABASE_POOLER", "", values.pooler)
    if pooler and not env.environ.get("RELAY_LISTEN_URL"):
        raise ConfigError(
            "RELAY_LISTEN_URL: required with DATABASE_POOLER=transaction: a direct "
            "PostgreSQL URL to LISTEN on (a pooler cannot carry LISTEN), or none to poll"
        )
    return {
        "database_url": database_url,
        "migrate_database_url": env.get(
            "MIGRATE_DATABASE_URL", database_url, normalise_database_url
        ),
        "database_pooler": pooler,
        "relay_listen_url": env.get("RELAY_LISTEN_URL", database_url, values.listen_url),
        "database_timeout": env.get(
            "DATABASE_TIMEOUT", str(DEFAULT_DATABASE_TIMEOUT), values.database_timeout
        ),
    }


def sms_fields(env: Env) -> dict[str, Any]:
    """The SMS providers and the regions SMS may go to."""
    default_region = env.get("PHONE_DEFAULT_REGION", "", values.region)
    real_sms = any(env.environ.get(name, "") not in ("", "log:") for name in SMS_URLS)
    template = env.get("SMS_REQUEST_TEMPLATE", "", read_template)
    headers = env.get("SMS_HEADERS", "", headers_from(env.environ))
    if headers and template is None:
        raise ConfigError("SMS_HEADERS: needs SMS_REQUEST_TEMPLATE, the gateway's request format")
    return {
        "sms_url": env.get("SMS_URL", "", checked_sms_url),
        "sms_fallback_url": env.get("SMS_FALLBACK_URL", "", checked_sms_url),
        "sms_token": env.environ.get("SMS_TOKEN") or None,
        "sms_request": RequestFormat(*template, headers=headers) if template else None,
        "phone_default_region": default_region,
        "sms_allowed_regions": env.get(
            "SMS_ALLOWED_REGIONS", "", values.allowed_regions(default_region, real_sms)
        ),
    }


def abuse_fields(env: Env) -> dict[str, Any]:
    """What keeps the dishonest from spending the owner's money or reputation."""
    positive = values.positive(int)
    return {
        "sms_region_hourly_limit": env.get("SMS_REGION_HOURLY_LIMIT", "100", positive),
        "sms_client_hourly_limit": env.get("SMS_CLIENT_HOURLY_LIMIT", "10", positive),
        "no_account_hourly_limit": env.get("NO_ACCOUNT_HOURLY_LIMIT", "100", positive),
        "captcha": env.get("CAPTCHA_URL", "", parse_captcha_url),
        "captcha_site_key": env.get("CAPTCHA_SITE_KEY", "", values.site_key),
        "captcha_min_score": env.get("CAPTCHA_MIN_SCORE", "0.5", values.score),
        "throttle_cooldown": env.get("THROTTLE_COOLDOWN", "60", positive),
        "throttle_per_hour": env.get("THROTTLE_PER_HOUR", "5", positive),
        "ip_rate_limit": env.get("IP_RATE_LIMIT", "30", positive),
        "trusted_proxies": env.get("TRUSTED_PROXIES", "0", values.count),
        "api_queue_timeout": env.get("API_QUEUE_TIMEOUT", "3", values.positive(float)),
    }


def relay_fields(env: Env) -> dict[str, Any]:
    """How the relay polls, claims, retries, paces and reports."""
    positive, seconds = values.positive(int), values.positive(float)
    return {
        "relay_poll_interval": env.get("RELAY_POLL_INTERVAL", "1.0", seconds),
        "relay_batch_size": env.get("RELAY_BATCH_SIZE", "100", positive),
        "relay_concurrency": env.get("RELAY_CONCURRENCY", str(DEFAULT_CONCURRENCY), positive),
        "relay_lease_seconds": env.get("RELAY_LEASE_SECONDS", "60", positive),
        "relay_max_attempts": env.get("RELAY_MAX_ATTEMPTS", "0", values.count),
        "smtp_rate": env.get("SMTP_RATE", "", values.rate),
        "relay_metrics_port": env.get("RELAY_METRICS_PORT", "9109", values.port),
        "relay_metrics_host": env.get("RELAY_METRICS_HOST", "127.0.0.1", values.host),
        "relay_backoff_base": env.get("RELAY_BACKOFF_BASE", "2.0", seconds),
        "relay_backoff_cap": env.get("RELAY_BACKOFF_CAP", "3600", seconds),
        "relay_nice": env.get("RELAY_NICE", "2", values.niceness),
    }


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
            '(e.g. `python -c "import base64, secrets; '
            "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\"`)"
        )
