"""The variables of time: how long codes and notices live, how long rows are kept, and the
application's webhook endpoint that hears of each account's life."""

from __future__ import annotations

from shared.settings import config_values as values
from shared.settings.signup import flag
from shared.settings.variable import Group, Variable

LIFETIMES = Group(
    "Lifetimes and retention",
    "How long a code or a notice may still be sent (its retry horizon: an outage shorter than "
    "it loses nothing), and when the daily purge removes rows "
    "([retention](operations.md#retention)).",
)
WEBHOOKS = Group(
    "Webhooks",
    "The application's endpoint for lifecycle events, signed as Standard Webhooks "
    "([the application's side](events.md)).",
)
_SECONDS = "seconds, a whole number more than 0"
_DAYS = "days, a whole number more than 0"

ACTIVATION_TTL = Variable(
    name="ACTIVATION_TTL",
    group=LIFETIMES,
    meaning="Seconds an activation code lives; its message is retried until then.",
    parse=values.positive(int),
    default="86400",
    checks=_SECONDS,
)
RESET_TTL = Variable(
    name="RESET_TTL",
    group=LIFETIMES,
    meaning="Seconds a password reset code lives; its message is retried until then.",
    parse=values.positive(int),
    default="900",
    checks=_SECONDS,
)
LOGIN_CODE_TTL = Variable(
    name="LOGIN_CODE_TTL",
    group=LIFETIMES,
    meaning="Seconds a sign-in code lives; its message is retried until then.",
    parse=values.positive(int),
    default="600",
    checks=_SECONDS,
)
NOTICE_TTL = Variable(
    name="NOTICE_TTL",
    group=LIFETIMES,
    meaning=(
        "The retry horizon of messages without a code (welcome, notices, events), seconds "
        "after each was written: never sent later, it goes `dead`/`expired`."
    ),
    parse=values.positive(int),
    default="86400",
    checks=_SECONDS,
)
RETENTION_SENT_DAYS = Variable(
    name="RETENTION_SENT_DAYS",
    group=LIFETIMES,
    meaning="Days after which the purge removes `sent` rows.",
    parse=values.positive(int),
    default="7",
    checks=_DAYS,
)
RETENTION_DEAD_DAYS = Variable(
    name="RETENTION_DEAD_DAYS",
    group=LIFETIMES,
    meaning="Days after which the purge removes `dead` and `cancelled` rows.",
    parse=values.positive(int),
    default="30",
    checks=_DAYS,
)
RETENTION_UNACTIVATED_DAYS = Variable(
    name="RETENTION_UNACTIVATED_DAYS",
    group=LIFETIMES,
    meaning="Days after which the purge removes accounts never activated.",
    parse=values.positive(int),
    default="7",
    checks=_DAYS,
)
ACCOUNT_EVENTS_RETENTION_DAYS = Variable(
    name="ACCOUNT_EVENTS_RETENTION_DAYS",
    group=LIFETIMES,
    meaning="Days after which the purge removes an event of an account's history.",
    parse=values.positive(int),
    default="90",
    checks=_DAYS,
)
WEBHOOK_URL = Variable(
    name="WEBHOOK_URL",
    group=WEBHOOKS,
    meaning=(
        "The application's endpoint for lifecycle events (`account.registered`, "
        "`account.activated`, `account.password_changed`, `account.erased`, "
        "`delivery.failed`, …), each retried, dead-lettered and replayed like any message; "
        "`delivery.sent` and `delivery.delivered` go only to the webhook endpoints that "
        "subscribe to them (`/v1/admin/webhook-endpoints`)."
    ),
    parse=values.webhook_url,
    shown="unset: no events but the webhook endpoints'",
    checks="an `http(s)://` URL without spaces or control characters; needs `WEBHOOK_SECRET`",
)
WEBHOOK_SECRET = Variable(
    name="WEBHOOK_SECRET",
    group=WEBHOOKS,
    meaning=(
        "The Standard Webhooks secret the events are signed with; a `WEBHOOK_URL` without a "
        "valid one stops the processes at start."
    ),
    parse=values.webhook_secret,
    checks=(
        '`whsec_` followed by a base64 key of 16 bytes or more (e.g. `python3 -c "import '
        "base64, secrets; print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\"`)"
    ),
)
LOGIN_REQUIRES_PROVISIONING = Variable(
    name="LOGIN_REQUIRES_PROVISIONING",
    group=WEBHOOKS,
    meaning=(
        "`true`: an active account whose `account.activated` event the application has not "
        "answered `2xx` yet (on its way, or dead and not discarded) is refused at `POST "
        "/v1/logins` and `POST /v1/login-codes/confirm` with `503 …/provisioning-pending` and "
        "`Retry-After`, after its credentials are checked; it signs in once the event is "
        "answered (a retry, or `outbox-relay dead retry`). Needs `WEBHOOK_URL`."
    ),
    parse=flag,
    default="false",
    checks="`true` or `false`; `true` needs `WEBHOOK_URL`",
)
