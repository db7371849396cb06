"""The SMS variables: the providers, a gateway's own request format, and the regions SMS may go
to."""

from __future__ import annotations

from collections.abc import Callable

from shared.settings import autofill_values, region_values
from shared.settings.sms_url import checked_sms_url
from shared.settings.variable import Environ, Group, InContext, Variable, text
from shared.sms_providers.template import headers_from, read_template

SMS = Group(
    "SMS",
    "SMS through Twilio, Vonage or a gateway of your own, and where SMS may go "
    "([SMS](sms.md), [abuse and fraud](abuse.md)).",
)

SMS_URL = Variable(
    name="SMS_URL",
    group=SMS,
    meaning=(
        "The SMS provider: `twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=+E164` (a "
        "literal `+` or `%2B`; or `messaging_service_sid=MG…`), "
        "`vonage://API_KEY:API_SECRET@rest.nexmo.com?from=SENDER`, an `https://…` gateway "
        "speaking Outpost's own contract (or its own API, with `SMS_REQUEST_TEMPLATE`), or "
        "`log:` (SMS to the log, code digits masked; what `outpost up` and docker-compose use "
        "unless set). The host (and port) is where requests go, over HTTPS verified as SMTP's "
        "TLS ([SMS](sms.md))."
    ),
    parse=checked_sms_url,
    shown=(
        "unset: no SMS; a request needing one gets `422` naming `channel` or `phone`, and so "
        "does a registration naming a phone beside its email (nothing could prove it), and SMS "
        "already queued wait, never die"
    ),
    checks="one of those forms; plain `http://` only to a loopback host (the tests' stand-ins)",
)
SMS_FALLBACK_URL = Variable(
    name="SMS_FALLBACK_URL",
    group=SMS,
    meaning=(
        "A second SMS provider, in any of `SMS_URL`'s forms: it takes every SMS while the first "
        "is paused (bad credentials, quota, throttling), with `SMTP_FALLBACK_URL`'s rules "
        "([fallback](sms.md#fallback))."
    ),
    parse=checked_sms_url,
    checks="as `SMS_URL`; needs `SMS_URL`, the provider it stands in for",
)
SMS_TOKEN = Variable(
    name="SMS_TOKEN",
    group=SMS,
    meaning="The bearer token sent to an `https://` gateway that speaks Outpost's contract.",
    parse=text,
)
SMS_REQUEST_TEMPLATE = Variable(
    name="SMS_REQUEST_TEMPLATE",
    group=SMS,
    meaning=(
        "For an `https://` gateway with an API of its own (a regional aggregator such as "
        "Africa's Talking): a `.json` or `.form` file rendered in Jinja's sandbox into each "
        "request's body, with `to` (E.164), `to_national`, `to_digits` (E.164 without `+`), "
        "`body`, `id` and `segments`, each written encoded for the format (Jinja's own "
        "`| tojson` is honoured too, never encoded twice); any 2xx is success and the rest is "
        "judged as the gateway contract's "
        "([a gateway with its own API](sms.md#a-gateway-with-its-own-api-africas-talking))."
    ),
    parse=read_template,
    shown="unset: Outpost's own contract",
    checks=(
        "a readable `.json` or `.form` file whose sample message renders into a body of its "
        "format; needs an `https://` `SMS_URL` or `SMS_FALLBACK_URL`"
    ),
)


def _headers(environ: Environ) -> Callable[[str], tuple[tuple[str, str], ...]]:
    """SMS_HEADERS, each `${NAME}` read from the environment; only beside a template."""
    resolve = headers_from(environ)

    def parse(value: str) -> tuple[tuple[str, str], ...]:
        headers = resolve(value)
        if headers and not SMS_REQUEST_TEMPLATE.given(environ):
            raise ValueError("needs SMS_REQUEST_TEMPLATE, the gateway's request format")
        return headers

    return parse


SMS_HEADERS = Variable(
    name="SMS_HEADERS",
    group=SMS,
    meaning=(
        "Extra request headers for `SMS_REQUEST_TEMPLATE`'s gateway, one `Name: value` a line; "
        "a value may name an environment variable, `${NAME}`, so that secrets stay out of "
        "files (a name it reads is never warned about)."
    ),
    parse=InContext(_headers),
    checks=(
        "`Name: value` lines without control characters, each `${NAME}` set; needs "
        "`SMS_REQUEST_TEMPLATE`"
    ),
)
PHONE_DEFAULT_REGION = Variable(
    name="PHONE_DEFAULT_REGION",
    group=SMS,
    meaning=(
        "The ISO 3166 region in which national numbers (`06 12 34 56 78`) are read; numbers are "
        "stored and returned in E.164. Fixed lines and numbers that cost more than an SMS "
        "(premium-rate, shared-cost, UAN, pager, voicemail, personal, satellite and "
        "international networks) are refused."
    ),
    parse=region_values.region,
    shown="unset: `+E.164` only",
    checks="an ISO 3166 alpha-2 region phone numbers know",
)


def _allowed_regions(environ: Environ) -> Callable[[str], frozenset[str] | None]:
    """SMS_ALLOWED_REGIONS, whose default is PHONE_DEFAULT_REGION's and which a provider that
    costs makes required."""
    real = any(url.raw(environ) not in ("", "log:") for url in (SMS_URL, SMS_FALLBACK_URL))
    return region_values.allowed_regions(PHONE_DEFAULT_REGION.read(environ), real)


SMS_ALLOWED_REGIONS = Variable(
    name="SMS_ALLOWED_REGIONS",
    group=SMS,
    meaning=(
        "The ISO 3166 alpha-2 regions, comma-separated (`CM,FR`), a phone number may belong to "
        "wherever a public request names one: others get `422` naming `phone`, nothing "
        "written, the same answer whether or not the number has an account; `*` for every "
        "region (a warning at start). The guard against SMS pumping "
        "([abuse and fraud](abuse.md))."
    ),
    parse=InContext(_allowed_regions),
    shown="`PHONE_DEFAULT_REGION`; with `log:` or no SMS, every region",
    checks=(
        "regions phone numbers know, or `*`; with a real SMS provider and neither this nor "
        "`PHONE_DEFAULT_REGION`, the API and the relay stop at start: SMS to every country of "
        "the world is never a default"
    ),
)
WEBOTP_DOMAIN = Variable(
    name="WEBOTP_DOMAIN",
    group=SMS,
    meaning=(
        "The host name of the page where people type their codes (`app.example.com`): every SMS "
        "that carries a code then ends with the WebOTP line `@app.example.com #123456`, from "
        "which the browser on that phone offers the code to that page, and only to it "
        "([SMS that fills itself in](sms.md#sms-that-fills-itself-in))."
    ),
    parse=autofill_values.webotp_domain,
    shown="unset: no WebOTP line",
    checks="a host name, without scheme, port or path",
)
SMS_APP_HASH = Variable(
    name="SMS_APP_HASH",
    group=SMS,
    meaning=(
        "Your Android app's 11-character SMS Retriever hash: it ends every SMS that carries a "
        "code (after the WebOTP line when there is one), so that the app reads the code without "
        "asking ([SMS that fills itself in](sms.md#sms-that-fills-itself-in))."
    ),
    parse=autofill_values.app_hash,
    shown="unset: no hash",
    checks="11 characters: letters, digits, `+` and `/`",
)
