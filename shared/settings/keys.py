"""The keys and tokens: what seals codes and secrets, and what operators and providers present."""

from __future__ import annotations

from shared.settings import config_values as values
from shared.settings.variable import Group, Variable

KEYS = Group(
    "Keys and tokens",
    "Secrets: none is ever logged, printed or shown in a repr. The env file that holds them "
    "and the database are what a backup keeps ([install](install.md)).",
)

SECRET_KEY = Variable(
    name="SECRET_KEY",
    group=KEYS,
    meaning=(
        "The key of the HMAC of codes and of the encryption of secrets in outbox rows. The API "
        "and every relay hold the same: a process whose keys cannot open what the API seals "
        "stops at start with one line, before it claims anything (the database keeps a check "
        "value, never the key)."
    ),
    parse=str,
    shown=(
        "required by the API and the relay, except under `outpost up` (which keeps one in "
        "`var/secret_key`, read as well by the operator commands run in its directory); "
        "read-only operator commands (`stats`, `dead list`, `dead show`, `stranded`) need none"
    ),
    checks=values.KEY_RULE,
)
SECRET_KEY_FALLBACKS = Variable(
    name="SECRET_KEY_FALLBACKS",
    group=KEYS,
    meaning=(
        "Older keys, comma-separated, newest first: codes HMAC'd and secrets sealed under them "
        "still verify and open until they expire, while everything new uses `SECRET_KEY` "
        "(rotation without losing a pending message or a live code: "
        "[rotating it](operations.md#rotating-secret_key))."
    ),
    parse=values.fallback_keys,
    checks=f"each key {values.KEY_RULE}",
)
ADMIN_TOKEN = Variable(
    name="ADMIN_TOKEN",
    group=KEYS,
    meaning=(
        "The bearer token of `/v1/admin/*` and of the `/admin` dashboard's sign-in; unset, both "
        "answer 404. Long enough that guessing, 10 tries per client per 15 minutes, gets "
        "nowhere."
    ),
    parse=values.secret_token(32),
    shown=(
        "unset (`outpost up` keeps one in `var/admin_token` and prints a sign-in link on a "
        "loopback address)"
    ),
    checks="at least 32 characters (e.g. `openssl rand -hex 32`): shorter stops the API at start",
)
PROVIDER_EVENTS_TOKEN = Variable(
    name="PROVIDER_EVENTS_TOKEN",
    group=KEYS,
    meaning=(
        "What providers' webhooks present at `/v1/provider-events` and `/v1/provider-events/ses` "
        "(Bearer, or the HTTP Basic password for providers that only do Basic); unset, those "
        "routes answer 404 ([bounces](bounces.md))."
    ),
    parse=values.secret_token(16),
    checks="at least 16 characters",
)
MAILGUN_WEBHOOK_SIGNING_KEY = Variable(
    name="MAILGUN_WEBHOOK_SIGNING_KEY",
    group=KEYS,
    meaning=(
        "Mailgun's HTTP webhook signing key: turns on `/v1/provider-events/mailgun` (404 while "
        "unset), where each post's `signature` must be the HMAC-SHA256 of its `timestamp` and "
        "`token` under this key, the timestamp within 5 minutes, the token never seen before "
        "([bounces](bounces.md))."
    ),
    parse=values.secret_token(16),
    checks="at least 16 characters, as Mailgun shows it",
)
SENDGRID_WEBHOOK_PUBLIC_KEY = Variable(
    name="SENDGRID_WEBHOOK_PUBLIC_KEY",
    group=KEYS,
    meaning=(
        "The verification key of SendGrid's signed Event Webhook: turns on "
        "`/v1/provider-events/sendgrid` (404 while unset), where each post must carry SendGrid's "
        "ECDSA signature of its timestamp and body ([bounces](bounces.md))."
    ),
    parse=values.ec_public_key,
    checks="the base64 of an ECDSA P-256 public key, as SendGrid shows it",
)
RESEND_WEBHOOK_SECRET = Variable(
    name="RESEND_WEBHOOK_SECRET",
    group=KEYS,
    meaning=(
        "The signing secret of Resend's webhook: turns on `/v1/provider-events/resend` (404 "
        "while unset), where each post must carry its Standard Webhooks (Svix) signature, the "
        "timestamp within 5 minutes ([bounces](bounces.md))."
    ),
    parse=values.webhook_secret,
    checks="`whsec_` followed by a base64 key of 16 bytes or more, as Resend shows it",
)
