"""The abuse variables: what keeps the dishonest from spending the owner's money or reputation,
and the API's shedding of a burst."""

from __future__ import annotations

from shared.settings import config_values as values
from shared.settings.captcha_url import parse_captcha_url
from shared.settings.variable import Group, Variable

ABUSE = Group(
    "Abuse and limits",
    "Limits counted in the database over every API worker and relay; a client is an IPv4 "
    "address or an IPv6 /64 everywhere a limit counts clients ([abuse and fraud](abuse.md)).",
)
_POSITIVE = "a whole number more than 0"

SMS_REGION_HOURLY_LIMIT = Variable(
    name="SMS_REGION_HOURLY_LIMIT",
    group=ABUSE,
    meaning=(
        "The most SMS an hour to the numbers of any one region, over every API worker, counting "
        "those that go to a provider (a withheld SMS fills no region's hour): past it "
        "a request naming a number of that region gets `429` with `Retry-After`, in words "
        "about the service (never the client), and writes nothing; with the alert "
        "`OutpostSmsRegionSurge`."
    ),
    parse=values.positive(int),
    default="100",
    checks=_POSITIVE,
)
SMS_CLIENT_HOURLY_LIMIT = Variable(
    name="SMS_CLIENT_HOURLY_LIMIT",
    group=ABUSE,
    meaning=(
        "The most SMS one client may cause in an hour, over every number and route, so that no "
        "one client drains a region's hour: past it the generic `429`."
    ),
    parse=values.positive(int),
    default="10",
    checks=_POSITIVE,
)
NO_ACCOUNT_HOURLY_LIMIT = Variable(
    name="NO_ACCOUNT_HOURLY_LIMIT",
    group=ABUSE,
    meaning=(
        'The most "no account uses this address" mails an hour, counted in the database over '
        "every relay when each is about to go: past it (or without `PUBLIC_URL`, for its "
        "unsubscribe link) the notice is withheld, and its client sees it sent."
    ),
    parse=values.positive(int),
    default="100",
    checks=_POSITIVE,
)
CAPTCHA_URL = Variable(
    name="CAPTCHA_URL",
    group=ABUSE,
    meaning=(
        "A human check on the routes that send a code or a notice (registration, resend, "
        "password reset, address changes): "
        "`turnstile://SECRET@challenges.cloudflare.com`, `hcaptcha://SECRET@api.hcaptcha.com` "
        "or `recaptcha://SECRET@www.google.com`, the host (and port) being where the provider's "
        "documented `siteverify` request goes over verified HTTPS. Each request then needs "
        "`captcha_token` (missing, refused or reused: `422` naming it; the provider silent for "
        "3 s: `503`), checked before any hash or write "
        "([bots: a human check](abuse.md#bots-a-human-check))."
    ),
    parse=parse_captcha_url,
    shown="unset: no human check",
    checks="one of those forms, the secret before the host; plain `http://` only to loopback",
)
CAPTCHA_SITE_KEY = Variable(
    name="CAPTCHA_SITE_KEY",
    group=ABUSE,
    meaning="The public site key `/dev/signup` shows the human check's widget with.",
    parse=values.site_key,
    checks="letters, digits, `_`, `.` and `-` only, as the providers issue them",
)
CAPTCHA_MIN_SCORE = Variable(
    name="CAPTCHA_MIN_SCORE",
    group=ABUSE,
    meaning=(
        "The least reCAPTCHA v3 `score` a token passes with, when its answer carries one: "
        "below it, refused as any other."
    ),
    parse=values.score,
    default="0.5",
    checks="from 0.0 (a bot) to 1.0 (a human)",
)
THROTTLE_COOLDOWN = Variable(
    name="THROTTLE_COOLDOWN",
    group=ABUSE,
    meaning="Seconds between two messages to one address for one purpose.",
    parse=values.positive(int),
    default="60",
    checks=_POSITIVE,
)
THROTTLE_PER_HOUR = Variable(
    name="THROTTLE_PER_HOUR",
    group=ABUSE,
    meaning="The most messages an hour to one address for one purpose.",
    parse=values.positive(int),
    default="5",
    checks=_POSITIVE,
)
IP_RATE_LIMIT = Variable(
    name="IP_RATE_LIMIT",
    group=ABUSE,
    meaning=(
        "Public POSTs per client per minute, across all workers. The admin API, the dashboard "
        "and the provider routes go by their tokens instead: 10 wrong ones per client in 15 "
        "minutes, and its tokens go unread until the window passes, the right one included."
    ),
    parse=values.positive(int),
    default="30",
    checks=_POSITIVE,
)
TRUSTED_PROXIES = Variable(
    name="TRUSTED_PROXIES",
    group=ABUSE,
    meaning=(
        "How many proxies in front are believed for `X-Forwarded-For` and `X-Request-Start` "
        "(0: the peer address is the client)."
    ),
    parse=values.count,
    default="0",
    checks="0 or more",
)
API_QUEUE_TIMEOUT = Variable(
    name="API_QUEUE_TIMEOUT",
    group=ABUSE,
    meaning=(
        "Seconds a request may have waited for a worker, by the trusted proxy's "
        "`X-Request-Start`: past it, it is answered `503` with `Retry-After` at once, before any "
        "hash (a burst is shed, not queued; `outpost_http_requests_shed_total`)."
    ),
    parse=values.positive(float),
    default="3",
    checks="seconds, more than 0",
)
