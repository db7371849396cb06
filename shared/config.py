"""Settings read from the environment, validated once at start."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import code_link, locales
from shared import config_values as values
from shared.addresses import Sender
from shared.captcha_url import Captcha
from shared.config_env import (
    ConfigError,
    Env,
    abuse_fields,
    check_together,
    database_fields,
    relay_fields,
    sms_fields,
)
from shared.database_url import normalise_database_url
from shared.locales import PACKAGED
from shared.outbox import Purpose
from shared.sms_providers.spec import SmsProvider
from shared.sms_providers.template import RequestFormat
from shared.sms_url import LOG, parse_sms_url
from shared.smtp_url import SmtpSettings, parse_smtp_url

DEFAULT_DATABASE_URL = "sqlite:///var/outpost.db"
# Seconds the SMS gateway, and the application's webhook endpoint, have to answer one request.
SMS_TIMEOUT = 10.0
# Seconds a dashboard session lasts; the purge keeps throttle events (sign-outs among them)
# at least this long.
DASHBOARD_SESSION_SECONDS = 8 * 3600
WEBHOOK_TIMEOUT = 10.0
# httpx bounds connecting, writing the request and reading the answer each by the timeout, not
# the request as a whole: a request to a slow endpoint may take this many timeouts.
HTTP_TIMED_STEPS = 3


@dataclass(frozen=True)
class Branding:
    """What every template may show of the adopting product (PRODUCT_NAME, APP_URL, …)."""

    product_name: str = "Outpost"
    app_url: str | None = None
    support_email: str | None = None
    logo_url: str | None = None


@dataclass(frozen=True)
class Settings:
    """Every variable of the spec's configuration table, parsed.

    Secrets, and URLs that may carry credentials, are left out of its repr: an error reporter
    that captures locals ships it.
    """

    database_url: str = field(repr=False)
    # MIGRATE_DATABASE_URL: the schema owner's URL, for migrations only (DATABASE_URL if unset).
    migrate_database_url: str = field(repr=False)
    # "transaction" when DATABASE_URL goes through a transaction pooler (PgBouncer): no
    # session state there (no server-side prepared statements, no session SET, no LISTEN).
    database_pooler: str | None
    # Where the relay LISTENs: DATABASE_URL by default; None (RELAY_LISTEN_URL=none) polls only.
    relay_listen_url: str | None = field(repr=False)
    # DATABASE_TIMEOUT: seconds one transaction of a request or a relay poll may take, COMMIT
    # included (shared.bounds); operator commands, purges and migrations have longer bounds.
    database_timeout: float
    secret_key: str = field(repr=False)
    # SECRET_KEY_FALLBACKS, newest first: they open and verify, never seal or sign.
    secret_key_fallbacks: tuple[str, ...] = field(repr=False)
    admin_token: str | None = field(repr=False)
    provider_events_token: str | None = field(repr=False)
    smtp: SmtpSettings
    smtp_fallback: SmtpSettings | None
    mail_from: Sender
    branding: Branding
    # TEMPLATES_DIR: files here replace the packaged templates of the same relative path.
    templates_dir: Path | None
    # None (SMS_URL unset): SMS is not offered; "log:" writes each SMS to the log; else a
    # provider's URL, read by `sms` (shared.sms_url).
    sms_url: str | None = field(repr=False)
    sms_fallback_url: str | None = field(repr=False)
    sms_token: str | None = field(repr=False)
    # SMS_REQUEST_TEMPLATE and SMS_HEADERS: how an http(s):// gateway of its own API is
    # written to (shared.sms_providers.template); None: the gateway speaks Outpost's contract.
    sms_request: RequestFormat | None
    # PUBLIC_URL: the API's public base URL, where Twilio is asked to post its receipts.
    public_url: str | None
    # CODE_LINK_URL: a one-click link with {code} and {address}, beside a mail's code.
    code_link_url: str | None
    # The region read into national phone input (`670123456`); None: only +E.164.
    phone_default_region: str | None
    # SMS_ALLOWED_REGIONS: the regions a public request's phone number may belong to; None: any
    # (`*`, or no SMS provider that costs anything).
    sms_allowed_regions: frozenset[str] | None
    # SMS_REGION_HOURLY_LIMIT: the most SMS an hour to one region's numbers.
    sms_region_hourly_limit: int
    # SMS_CLIENT_HOURLY_LIMIT: the most SMS one client may cause in an hour.
    sms_client_hourly_limit: int
    # NO_ACCOUNT_HOURLY_LIMIT: the most "no account" emails an hour; past it they are withheld.
    no_account_hourly_limit: int
    # CAPTCHA_URL: the human check the routes that send demand; None: none.
    captcha: Captcha | None
    # CAPTCHA_SITE_KEY: what /dev/signup shows the check's widget with.
    captcha_site_key: str | None
    # CAPTCHA_MIN_SCORE: the least reCAPTCHA v3 score a token passes with, when it has one.
    captcha_min_score: float
    webhook_url: str | None = field(repr=False)
    # The Standard Webhooks key: the bytes base64-encoded after `whsec_` in WEBHOOK_SECRET.
    webhook_secret: bytes | None = field(repr=False)
    activation_ttl: int
    reset_ttl: int
    throttle_cooldown: int
    throttle_per_hour: int
    ip_rate_limit: int
    trusted_proxies: int
    # A request that waited longer than this, by the proxy's X-Request-Start, is shed (503).
    api_queue_timeout: float
    retention_sent_days: int
    retention_dead_days: int
    retention_unactivated_days: int
    relay_poll_interval: float
    relay_batch_size: int
    relay_concurrency: int
    relay_lease_seconds: int
    relay_max_attempts: int
    notice_ttl: int
    smtp_rate: float | None
    relay_metrics_port: int
    relay_metrics_host: str
    relay_backoff_base: float
    relay_backoff_cap: float
    relay_nice: int
    # The packaged locales, then those TEMPLATES_DIR adds (shared.locales).
    locales: tuple[str, ...] = PACKAGED

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, require_secret: bool = True) -> Settings:
        """Parse and check every variable; raise ConfigError naming the first bad one."""
        env = Env(environ)
        secret = env.get("SECRET_KEY", "", str)
        if require_secret and len(secret) < 16:
            raise ConfigError(f"SECRET_KEY: required, {values.KEY_RULE}")
        product = env.get("PRODUCT_NAME", "Outpost", values.product_name)
        database_url = env.get("DATABASE_URL", DEFAULT_DATABASE_URL, normalise_database_url)
        settings = cls(
            **database_fields(env, database_url),
            secret_key=secret,
            secret_key_fallbacks=env.get("SECRET_KEY_FALLBACKS", "", values.fallback_keys),
            # Long enough that guessing, 10 tries per client per 15 minutes, gets nowhere.
            admin_token=env.get("ADMIN_TOKEN", "", values.secret_token(32)),
            provider_events_token=env.get("PROVIDER_EVENTS_TOKEN", "", values.secret_token(16)),
            smtp=env.get("SMTP_URL", "smtp://127.0.0.1:1025", parse_smtp_url),
            smtp_fallback=env.optional("SMTP_FALLBACK_URL", parse_smtp_url),
            mail_from=env.get("MAIL_FROM", f"{product} <no-reply@localhost>", values.mail_from),
            branding=Branding(
                product_name=product,
                app_url=env.get("APP_URL", "", values.web_url("APP_URL")),
                support_email=env.get("SUPPORT_EMAIL", "", values.support_email),
                logo_url=env.get("LOGO_URL", "", values.web_url("LOGO_URL")),
            ),
            templates_dir=env.get("TEMPLATES_DIR", "", values.directory),
            locales=(*PACKAGED, *env.get("TEMPLATES_DIR", "", locales.added)),
            public_url=env.get("PUBLIC_URL", "", values.web_url("PUBLIC_URL")),
            code_link_url=env.get("CODE_LINK_URL", "", code_link.parse),
            **sms_fields(env),
            **abuse_fields(env),
            webhook_url=env.get("WEBHOOK_URL", "", values.webhook_url),
            webhook_secret=env.get("WEBHOOK_SECRET", "", values.webhook_secret),
            activation_ttl=env.get("ACTIVATION_TTL", "86400", values.positive(int)),
            reset_ttl=env.get("RESET_TTL", "900", values.positive(int)),
            notice_ttl=env.get("NOTICE_TTL", "86400", values.positive(int)),
            retention_sent_days=env.get("RETENTION_SENT_DAYS", "7", values.positive(int)),
            retention_dead_days=env.get("RETENTION_DEAD_DAYS", "30", values.positive(int)),
            retention_unactivated_days=env.get(
                "RETENTION_UNACTIVATED_DAYS", "7", values.positive(int)
            ),
            **relay_fields(env),
        )
        check_together(settings)
        if not settings.relay_max_attempts:
            settings = settings.replace(relay_max_attempts=settings.default_max_attempts)
        return settings

    @property
    def warnings(self) -> list[str]:
        """What the processes say at start about settings that work but deserve a look."""
        said = []
        if self.sms_allowed_regions is None and self.sms_url not in (None, "log:"):
            said.append(
                "SMS_ALLOWED_REGIONS: * lets SMS go to numbers of every region of the world; "
                "name the regions you serve to keep SMS pumping out"
            )
        return said

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """SECRET_KEY, then its fallbacks: every key that may open or verify, newest first."""
        return (self.secret_key, *self.secret_key_fallbacks)

    @property
    def sms(self) -> SmsProvider | None:
        """SMS_URL's provider, or None when SMS is not offered."""
        return parse_sms_url(self.sms_url, self.templated) if self.sms_url else None

    @property
    def sms_fallback(self) -> SmsProvider | None:
        """SMS_FALLBACK_URL's provider, if any."""
        url = self.sms_fallback_url
        return parse_sms_url(url, self.templated) if url else None

    @property
    def templated(self) -> bool:
        """Whether an http(s):// SMS URL is a gateway written to by SMS_REQUEST_TEMPLATE."""
        return self.sms_request is not None

    @property
    def sms_providers(self) -> list[SmsProvider]:
        """The SMS providers configured, SMS_URL's first; `log:` is none."""
        return [p for p in (self.sms, self.sms_fallback) if p is not None and p.kind != LOG]

    @property
    def longest_send(self) -> float:
        """Seconds one send may take: a send tries one provider, so that provider's longest.

        An SMTP send is cut at its timeout (channels.smtp); an HTTP request at a few of them.
        """
        timeouts = [
            self.smtp.timeout,
            HTTP_TIMED_STEPS * SMS_TIMEOUT if self.sms_url not in (None, "log:") else 0.0,
            HTTP_TIMED_STEPS * SMS_TIMEOUT if self.sms_fallback_url not in (None, "log:") else 0.0,
            HTTP_TIMED_STEPS * WEBHOOK_TIMEOUT if self.webhook_url else 0.0,
        ]
        if self.smtp_fallback is not None:
            timeouts.append(self.smtp_fallback.timeout)
        return max(timeouts)

    @property
    def longest_horizon(self) -> int:
        """Seconds the longest-lived message may be retried: a code's lifetime or NOTICE_TTL."""
        return max(self.activation_ttl, self.reset_ttl, self.notice_ttl)

    @property
    def default_max_attempts(self) -> int:
        """RELAY_MAX_ATTEMPTS when unset: more transient failures than fit in any horizon.

        Backoff delays are drawn up to RELAY_BACKOFF_CAP (full jitter: half of it on average),
        so a message failing for a whole horizon makes about 2 * horizon / cap attempts once
        the cap is reached; three times, plus the attempts that climb to the cap, leaves the
        horizon, not this count, to end any outage shorter than it.
        """
        return math.ceil(3 * self.longest_horizon / self.relay_backoff_cap) + 10

    def code_ttl(self, purpose: str) -> int:
        """Lifetime in seconds of a code for `purpose`."""
        return self.reset_ttl if purpose == Purpose.PASSWORD_RESET else self.activation_ttl

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
