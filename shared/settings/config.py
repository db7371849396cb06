"""Settings read from the environment, validated once at start."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.accounts.addresses import Sender
from shared.accounts.signup_rules import SignupRules
from shared.mail_providers.spec import MAIL_API_TIMEOUT, MailApi, MailProvider
from shared.messaging import locales
from shared.messaging.branding import Branding
from shared.messaging.locales import PACKAGED
from shared.messaging.outbox import Channel, Purpose
from shared.messaging.sms_autofill import SmsAutofill
from shared.settings import abuse, database, keys, lifetimes, mail, relay, signup
from shared.settings import config_values as values
from shared.settings.bounce_mailbox import Mailbox
from shared.settings.captcha_url import Captcha
from shared.settings.catalogue import SETTINGS
from shared.settings.joint_rules import ConfigError, check_slots, check_together
from shared.settings.mail import APP_URL, LOGO_URL, PRODUCT_NAME, SUPPORT_EMAIL, TEMPLATES_DIR
from shared.settings.sms import (
    PHONE_DEFAULT_REGION,
    SMS_ALLOWED_REGIONS,
    SMS_APP_HASH,
    SMS_FALLBACK_URL,
    SMS_HEADERS,
    SMS_REQUEST_TEMPLATE,
    SMS_TOKEN,
    SMS_URL,
    WEBOTP_DOMAIN,
)
from shared.settings.sms_url import LOG, parse_sms_url
from shared.settings.smtp_url import SmtpSettings
from shared.settings.variable import Parsed, made_of, setting
from shared.sms_providers.spec import SmsContext, SmsProvider
from shared.sms_providers.template import RequestFormat

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
class Settings:
    """Every variable of the configuration reference that the processes share, parsed: each
    field names the variable it is read from (shared/settings/), which says what it means.

    Secrets, and URLs that may carry credentials, are left out of its repr: an error reporter
    that captures locals ships it.
    """

    branding: Branding = made_of(PRODUCT_NAME, APP_URL, SUPPORT_EMAIL, LOGO_URL)
    # How an http(s):// gateway of its own API is written to; None: Outpost's contract.
    sms_request: RequestFormat | None = made_of(SMS_REQUEST_TEMPLATE, SMS_HEADERS)
    # What ends an SMS carrying a code: the WebOTP line, Android's app hash.
    sms_autofill: SmsAutofill = made_of(WEBOTP_DOMAIN, SMS_APP_HASH)
    # Which email addresses may sign up, read from the address alone.
    signup_rules: SignupRules = made_of(
        signup.SIGNUP_DOMAINS_ALLOWED, signup.SIGNUP_DOMAINS_DENIED, signup.SIGNUP_DENY_DISPOSABLE
    )
    # Whether registrations are taken (SIGNUP), or accounts come by invitation alone.
    signup_mode: signup.SignupMode = setting(signup.SIGNUP_MODE)
    database_url: str = setting(database.DATABASE_URL, repr=False)
    migrate_database_url: str = setting(database.MIGRATE_DATABASE_URL, repr=False)
    database_pooler: str | None = setting(database.DATABASE_POOLER)
    # None (RELAY_LISTEN_URL=none): the relay polls only.
    relay_listen_url: str | None = setting(database.RELAY_LISTEN_URL, repr=False)
    database_timeout: float = setting(database.DATABASE_TIMEOUT)
    secret_key: str = setting(keys.SECRET_KEY, repr=False)
    # Newest first: they open and verify, never seal or sign.
    secret_key_fallbacks: tuple[str, ...] = setting(keys.SECRET_KEY_FALLBACKS, repr=False)
    admin_token: str | None = setting(keys.ADMIN_TOKEN, repr=False)
    provider_events_token: str | None = setting(keys.PROVIDER_EVENTS_TOKEN, repr=False)
    mailgun_webhook_signing_key: str | None = setting(keys.MAILGUN_WEBHOOK_SIGNING_KEY, repr=False)
    # SendGrid's verification key: base64 of the DER public key.
    sendgrid_webhook_public_key: str | None = setting(keys.SENDGRID_WEBHOOK_PUBLIC_KEY, repr=False)
    # Resend's Standard Webhooks key: the bytes base64-encoded after `whsec_`.
    resend_webhook_secret: bytes | None = setting(keys.RESEND_WEBHOOK_SECRET, repr=False)
    smtp: SmtpSettings = setting(mail.SMTP_URL)
    smtp_fallback: SmtpSettings | None = setting(mail.SMTP_FALLBACK_URL)
    # MAIL_URL and MAIL_FALLBACK_URL: the same two slots, when an HTTP API fills them.
    mail_url_provider: MailProvider | None = setting(mail.MAIL_URL, repr=False)
    mail_fallback_url_provider: MailProvider | None = setting(mail.MAIL_FALLBACK_URL, repr=False)
    mail_from: Sender = setting(mail.MAIL_FROM)
    # None: mail goes from MAIL_FROM's address, and no report by mail is read.
    bounce_address: str | None = setting(mail.BOUNCE_ADDRESS)
    # None: no mailbox is read for reports by mail.
    bounce_mailbox: Mailbox | None = setting(mail.BOUNCE_MAILBOX, repr=False)
    templates_dir: Path | None = setting(mail.TEMPLATES_DIR)
    # None: SMS is not offered; "log:" writes each SMS to the log; else a provider's URL, read
    # by `sms` (shared.settings.sms_url).
    sms_url: str | None = setting(SMS_URL, repr=False)
    sms_fallback_url: str | None = setting(SMS_FALLBACK_URL, repr=False)
    sms_token: str | None = setting(SMS_TOKEN, repr=False)
    public_url: str | None = setting(mail.PUBLIC_URL)
    code_link_url: str | None = setting(mail.CODE_LINK_URL)
    phone_default_region: str | None = setting(PHONE_DEFAULT_REGION)
    # None: any region (`*`, or no SMS provider that costs anything).
    sms_allowed_regions: frozenset[str] | None = setting(SMS_ALLOWED_REGIONS)
    sms_region_hourly_limit: int = setting(abuse.SMS_REGION_HOURLY_LIMIT)
    sms_client_hourly_limit: int = setting(abuse.SMS_CLIENT_HOURLY_LIMIT)
    no_account_hourly_limit: int = setting(abuse.NO_ACCOUNT_HOURLY_LIMIT)
    captcha: Captcha | None = setting(abuse.CAPTCHA_URL)
    captcha_site_key: str | None = setting(abuse.CAPTCHA_SITE_KEY)
    captcha_min_score: float = setting(abuse.CAPTCHA_MIN_SCORE)
    webhook_url: str | None = setting(lifetimes.WEBHOOK_URL, repr=False)
    # The Standard Webhooks key: the bytes base64-encoded after `whsec_`.
    webhook_secret: bytes | None = setting(lifetimes.WEBHOOK_SECRET, repr=False)
    login_requires_provisioning: bool = setting(lifetimes.LOGIN_REQUIRES_PROVISIONING)
    activation_ttl: int = setting(lifetimes.ACTIVATION_TTL)
    reset_ttl: int = setting(lifetimes.RESET_TTL)
    login_code_ttl: int = setting(lifetimes.LOGIN_CODE_TTL)
    throttle_cooldown: int = setting(abuse.THROTTLE_COOLDOWN)
    throttle_per_hour: int = setting(abuse.THROTTLE_PER_HOUR)
    ip_rate_limit: int = setting(abuse.IP_RATE_LIMIT)
    trusted_proxies: int = setting(abuse.TRUSTED_PROXIES)
    api_queue_timeout: float = setting(abuse.API_QUEUE_TIMEOUT)
    retention_sent_days: int = setting(lifetimes.RETENTION_SENT_DAYS)
    retention_dead_days: int = setting(lifetimes.RETENTION_DEAD_DAYS)
    retention_unactivated_days: int = setting(lifetimes.RETENTION_UNACTIVATED_DAYS)
    account_events_retention_days: int = setting(lifetimes.ACCOUNT_EVENTS_RETENTION_DAYS)
    relay_poll_interval: float = setting(relay.RELAY_POLL_INTERVAL)
    relay_batch_size: int = setting(relay.RELAY_BATCH_SIZE)
    relay_concurrency: int = setting(relay.RELAY_CONCURRENCY)
    relay_lease_seconds: int = setting(relay.RELAY_LEASE_SECONDS)
    # 0 when unset, until from_env puts default_max_attempts in its place.
    relay_max_attempts: int = setting(relay.RELAY_MAX_ATTEMPTS)
    notice_ttl: int = setting(lifetimes.NOTICE_TTL)
    smtp_rate: float | None = setting(mail.SMTP_RATE)
    relay_metrics_port: int = setting(relay.RELAY_METRICS_PORT)
    relay_metrics_host: str = setting(relay.RELAY_METRICS_HOST)
    relay_backoff_base: float = setting(relay.RELAY_BACKOFF_BASE)
    relay_backoff_cap: float = setting(relay.RELAY_BACKOFF_CAP)
    relay_deferral_floor: float = setting(relay.RELAY_DEFERRAL_FLOOR)
    relay_stop_seconds: float = setting(relay.RELAY_STOP_SECONDS)
    relay_nice: int = setting(relay.RELAY_NICE)
    provider_down_after: float = setting(relay.PROVIDER_DOWN_AFTER)
    code_fallback_after: int | None = setting(relay.CODE_FALLBACK_AFTER)
    # The packaged locales, then those TEMPLATES_DIR adds (shared.messaging.locales).
    locales: tuple[str, ...] = PACKAGED

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, require_secret: bool = True) -> Settings:
        """Parse and check every variable; raise ConfigError naming the first bad one."""
        if require_secret and len(keys.SECRET_KEY.read(environ)) < 16:
            raise ConfigError(f"SECRET_KEY: required, {values.KEY_RULE}")
        check_slots(environ)
        parsed = Parsed(SETTINGS, environ)
        template, headers = parsed[SMS_REQUEST_TEMPLATE], parsed[SMS_HEADERS]
        settings = cls(
            **parsed.fields(cls),
            branding=Branding(
                parsed[PRODUCT_NAME], parsed[APP_URL], parsed[SUPPORT_EMAIL], parsed[LOGO_URL]
            ),
            sms_request=RequestFormat(*template, headers=headers) if template else None,
            sms_autofill=SmsAutofill(parsed[WEBOTP_DOMAIN], parsed[SMS_APP_HASH]),
            signup_rules=SignupRules(
                parsed[signup.SIGNUP_DOMAINS_ALLOWED],
                parsed[signup.SIGNUP_DOMAINS_DENIED],
                parsed[signup.SIGNUP_DENY_DISPOSABLE],
            ),
            locales=(*PACKAGED, *TEMPLATES_DIR.named(locales.added, parsed[TEMPLATES_DIR])),
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
    def sms_context(self) -> SmsContext:
        """What the SMS providers' specs read of these settings."""
        return SmsContext(self.public_url, self.secret_keys, self.sms_token, self.sms_request)

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
    def mail_provider(self) -> MailProvider:
        """The first mail slot's provider: MAIL_URL's, else SMTP_URL's."""
        return self.mail_url_provider or self.smtp

    @property
    def mail_fallback_provider(self) -> MailProvider | None:
        """The second mail slot's provider, if any: MAIL_FALLBACK_URL's or SMTP_FALLBACK_URL's."""
        return self.mail_fallback_url_provider or self.smtp_fallback

    @property
    def longest_send(self) -> float:
        """Seconds one send may take: a send tries one provider, so that provider's longest
        (a webhook's only with WEBHOOK_URL: an endpoint's event waits for a lease that covers
        its own, `longest_send_of`).

        An SMTP send is cut at its timeout (channels.smtp); an HTTP request at a few of them.
        """
        channels = (Channel.EMAIL, Channel.SMS, *((Channel.WEBHOOK,) if self.webhook_url else ()))
        return max(self.longest_send_of(channel) for channel in channels)

    def longest_send_of(self, channel: Channel) -> float:
        """Seconds one send of a `channel` message may take (0: no provider of it)."""
        if channel == Channel.EMAIL:
            providers = (self.mail_provider, self.mail_fallback_provider)
            return max((_send_bound(p) for p in providers if p), default=0.0)
        if channel == Channel.SMS:
            urls = (self.sms_url, self.sms_fallback_url)
            sending = any(url not in (None, "log:") for url in urls)
            return HTTP_TIMED_STEPS * SMS_TIMEOUT if sending else 0.0
        # Whether or not WEBHOOK_URL is set: endpoints are added while the relay runs.
        return HTTP_TIMED_STEPS * WEBHOOK_TIMEOUT

    @property
    def longest_horizon(self) -> int:
        """Seconds the longest-lived message may be retried: a code's lifetime or NOTICE_TTL."""
        return max(self.activation_ttl, self.reset_ttl, self.login_code_ttl, self.notice_ttl)

    @property
    def default_max_attempts(self) -> int:
        """RELAY_MAX_ATTEMPTS when unset: more transient failures than fit in any horizon.

        Backoff delays are drawn up to RELAY_BACKOFF_CAP (full jitter: half of it on average),
        so a message failing for a whole horizon makes about 2 * horizon / cap attempts once
        the cap is reached; three times, plus the attempts that climb to the cap, leaves the
        horizon, not this count, to end any outage shorter than it.
        """
        return math.ceil(3 * self.longest_horizon / self.relay_backoff_cap) + 10

    def code_ttl(self, purpose: Purpose) -> int:
        """Lifetime in seconds of a code for `purpose`."""
        if purpose == Purpose.PASSWORD_RESET:
            return self.reset_ttl
        if purpose == Purpose.LOGIN_CODE:
            return self.login_code_ttl
        return self.activation_ttl

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _send_bound(provider: MailProvider) -> float:
    """Seconds one send to a mail provider may take: SMTP's timeout, an API's few of its own."""
    if isinstance(provider, MailApi):
        return HTTP_TIMED_STEPS * MAIL_API_TIMEOUT
    return provider.timeout
