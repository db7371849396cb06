"""The mail variables: the SMTP providers and the sender; then what every message says of the
product (branding, links, templates)."""

from __future__ import annotations

from shared.mail_providers.registry import parse_mail_url
from shared.settings import code_link, mail_values
from shared.settings import config_values as values
from shared.settings.bounce_mailbox import parse_bounce_mailbox
from shared.settings.smtp_url import parse_smtp_url
from shared.settings.variable import Environ, Group, Variable, optional

MAIL = Group(
    "Mail",
    "The mail providers the relay hands mail to (SMTP, or an HTTP API), and the sender it names "
    "([providers](providers.md)). Certificates are always verified.",
)
MESSAGES = Group(
    "What messages say",
    "The product every template names, where its links lead, and the templates themselves. "
    "URLs and names refuse control characters (CR, LF, U+2028 and U+2029 included) at start.",
)

SMTP_URL = Variable(
    name="SMTP_URL",
    group=MAIL,
    meaning=(
        "The SMTP provider: `smtp://[user:pass@]host[:port][?starttls=true|false&timeout=S]` "
        "or `smtps://…` (implicit TLS, and so is port 465); user and password percent-decoded. "
        "A password never travels in clear: with one, STARTTLS is required (a server that does "
        "not offer it is paused as the provider's failure), and `starttls=false` is refused "
        "unless the host is loopback; without one, STARTTLS is used whenever offered. "
        "`timeout` bounds a whole send but the reply to the end of the message, which is "
        "waited for 10 minutes as RFC 5321 §4.5.3.2.6 asks (the message may already be "
        "delivered), the message's lease renewed meanwhile. "
        "Certificates are verified against the system's trust store or `SSL_CERT_FILE` "
        "([TLS](providers.md#tls-and-auth))."
    ),
    parse=parse_smtp_url,
    default="smtp://127.0.0.1:1025",
    shown="`smtp://127.0.0.1:1025` (where `outpost up` starts its catcher), timeout 30 s",
    checks=(
        "an `smtp://` or `smtps://` URL with a host; `starttls=false` with credentials only to "
        "a loopback host"
    ),
)
SMTP_FALLBACK_URL = Variable(
    name="SMTP_FALLBACK_URL",
    group=MAIL,
    meaning=(
        "A second SMTP provider: it takes every message while the first is down, and the "
        "retries of what the first deferred ([providers](providers.md))."
    ),
    parse=optional(parse_smtp_url),
    checks="as `SMTP_URL`",
)
MAIL_URL = Variable(
    name="MAIL_URL",
    group=MAIL,
    meaning=(
        "The mail provider when it is reached by its HTTP API rather than SMTP (a host that "
        "blocks SMTP ports, a provider whose API is its main door): "
        "`postmark://SERVER_TOKEN@api.postmarkapp.com[?stream=outbound]`, "
        "`sendgrid://API_KEY@api.sendgrid.com`; the host (and port) is where requests go, "
        "over verified HTTPS (plain HTTP only to a loopback host). It fills `SMTP_URL`'s slot: "
        "setting both stops the processes at start ([providers](providers.md#http-apis))."
    ),
    parse=optional(parse_mail_url),
    shown="unset: `SMTP_URL`",
    checks="a URL of a registered provider (`smtp://` and `smtps://` as `SMTP_URL`); not "
    "with `SMTP_URL`",
)
MAIL_FALLBACK_URL = Variable(
    name="MAIL_FALLBACK_URL",
    group=MAIL,
    meaning=(
        "A second mail provider in any of `MAIL_URL`'s forms, with `SMTP_FALLBACK_URL`'s rules "
        "(an SMTP primary with an API fallback is fine). It fills `SMTP_FALLBACK_URL`'s slot."
    ),
    parse=optional(parse_mail_url),
    checks="as `MAIL_URL`; not with `SMTP_FALLBACK_URL`",
)
SMTP_RATE = Variable(
    name="SMTP_RATE",
    group=MAIL,
    meaning=(
        "The most messages a second handed to each mail provider (counted when MAIL FROM is "
        "sent, or an API's request), summed over every relay on the database: a provider's "
        "quota, e.g. 14 for a new "
        "Amazon SES account. A throttling reply slows the provider down further."
    ),
    parse=values.rate,
    shown="unset: no cap",
    checks="more than 0 and at most 10000",
)


def _sender(environ: Environ) -> str:
    """MAIL_FROM's default: the product's name at a local address."""
    return f"{PRODUCT_NAME.read(environ)} <no-reply@localhost>"


MAIL_FROM = Variable(
    name="MAIL_FROM",
    group=MAIL,
    meaning=(
        "The From header and envelope sender: `Name <address>` or the address alone, checked "
        "as the API checks addresses (a non-ASCII domain is sent in ASCII, a non-ASCII local "
        "part refused), though `localhost` and `*.test` are allowed; its domain also names the "
        "`Message-ID`s."
    ),
    parse=mail_values.mail_from,
    default=_sender,
    shown="`$PRODUCT_NAME <no-reply@localhost>`",
    checks="a display name of 1 to 60 printable characters, without `<`, `>` or quotes",
)
BOUNCE_ADDRESS = Variable(
    name="BOUNCE_ADDRESS",
    group=MAIL,
    meaning=(
        "The envelope sender (`MAIL FROM`, the `Return-Path`) of every mail, an address whose "
        "local part takes a `+` extension (`bounces@mail.example.com`): each mail goes from "
        "`bounces+TOKEN@mail.example.com`, TOKEN naming the message and signed with "
        "`SECRET_KEY` (VERP), and, where the server offers DSN (RFC 3461), asks for "
        "`RET=HDRS ENVID=<delivery id>`, `NOTIFY=FAILURE,DELAY` and the recipient as `ORCPT`. "
        "What a smarthost or a later server reports comes back there "
        "([reports by mail](bounces.md#reports-by-mail))."
    ),
    parse=optional(mail_values.bounce_address),
    shown="unset: `MAIL_FROM`'s address, no DSN parameters, and reports sent after a server's "
    "`250` are not seen",
    checks="an address as `MAIL_FROM`'s, its local part without `+` and of at most 24 characters",
)
BOUNCE_MAILBOX = Variable(
    name="BOUNCE_MAILBOX",
    group=MAIL,
    meaning=(
        "`imaps://USER:PASSWORD@HOST[:PORT]/FOLDER` (user and password percent-decoded, the "
        "folder `INBOX` when none is named): a mailbox the relay reads reports by mail from "
        "every minute (for a `BOUNCE_ADDRESS` whose mail another server receives), each message "
        "deleted once it is read; the server's certificate verified as `SMTP_URL`'s "
        "([reports by mail](bounces.md#reports-by-mail))."
    ),
    parse=optional(parse_bounce_mailbox),
    checks="an `imaps://` URL with a user and a password",
)
PRODUCT_NAME = Variable(
    name="PRODUCT_NAME",
    group=MESSAGES,
    meaning="The product's name, in every template and as the default `MAIL_FROM`'s display name.",
    parse=mail_values.product_name,
    default="Outpost",
    checks="1 to 60 printable characters, without `<`, `>` or quotes",
)
APP_URL = Variable(
    name="APP_URL",
    group=MESSAGES,
    meaning=(
        "Where the mails' links go (welcome, account exists, password changed); `outpost up` "
        "points it at its `/dev/signup` page."
    ),
    parse=mail_values.web_url("APP_URL"),
    checks="an `http(s)://` URL without spaces or control characters",
)
SUPPORT_EMAIL = Variable(
    name="SUPPORT_EMAIL",
    group=MESSAGES,
    meaning="The address the templates' footer gives for help.",
    parse=mail_values.support_email,
    checks="an email address",
)
LOGO_URL = Variable(
    name="LOGO_URL",
    group=MESSAGES,
    meaning="The logo the HTML mails show: their only remote resource, and only when set.",
    parse=mail_values.web_url("LOGO_URL"),
    checks="an `http(s)://` URL without spaces or control characters",
)
PUBLIC_URL = Variable(
    name="PUBLIC_URL",
    group=MESSAGES,
    meaning=(
        "The API's public base URL (`https://api.example.com`): Twilio and Vonage are asked for "
        "delivery receipts at `$PUBLIC_URL/v1/provider-events/twilio` and `…/vonage` (Twilio's "
        "signatures verified over that exact URL, whatever `Host` they arrive with: "
        '[SMS receipts](bounces.md#sms-delivery-receipts)), and the "no account" mails\' '
        "one-click unsubscribe links lead to `$PUBLIC_URL/v1/unsubscribe/…`."
    ),
    parse=mail_values.web_url("PUBLIC_URL"),
    shown=(
        'unset: no receipts asked for, `/v1/provider-events/twilio` answers 404, and "no '
        "account\" mails are withheld (a stranger's mailbox gets nothing without a way out); "
        "`outpost up` sets its own address"
    ),
    checks="an `http(s)://` URL without spaces or control characters",
)
CODE_LINK_URL = Variable(
    name="CODE_LINK_URL",
    group=MESSAGES,
    meaning=(
        "A URL with `{code}` or `{token}`, and if it likes `{address}` and `{purpose}` "
        "(`activation`, `password_reset`, `address_change`, `login_code`), each "
        "percent-encoded when filled: every mail with a code then carries a one-click link "
        "beside it. `{token}` is a random token of 192 bits that stands for the mail's code "
        "(every route that takes `code` takes `token` in its place) and that wrong codes never "
        "kill: someone guessing at the six digits cannot keep the mail's holder out. Keep them "
        "in the fragment, which no server logs: "
        "`https://app.example/verify#address={address}&purpose={purpose}&token={token}`. "
        "`outpost up` points it at `/dev/signup`."
    ),
    parse=code_link.parse,
    shown="unset: the code alone",
    checks="an `http(s)://` URL with `{code}` or `{token}`, and no placeholder but those four",
)
TEMPLATES_DIR = Variable(
    name="TEMPLATES_DIR",
    group=MESSAGES,
    meaning=(
        "A directory whose files replace the packaged templates of the same relative path "
        "(`activation/en/subject.txt`, `_layout.html`, …) and whose `<purpose>/<locale>/` "
        "folders add a language, any BCP 47 tag (`de`, `pt-BR`; a locale falls back `pt-BR` → "
        "`pt` → `en`: [any language](delivery.md#any-language)). Templates render in Jinja's "
        "sandbox (no Python objects, files or processes) within a budget of 0.5 s and 256 KiB a "
        "render: a message whose render goes past it dies `permanent_error` alone. "
        "`outpost templates check` (which also prints each SMS template's "
        "[segments](sms.md#segments), warning past two) and `outpost templates preview PURPOSE "
        "[--locale en|fr|…] [--channel email|sms] [--out PATH]` show them (`--out mail.html` "
        "writes the HTML part as a browser opens it, `.txt` the text, `.eml` the whole message)."
    ),
    parse=mail_values.directory,
    checks=(
        "a directory; the relay and `outpost up` refuse to start, with one line naming the "
        "file, on a syntax error, an unknown variable, a missing part of a locale, a stray "
        "file, an attribute past the values given, or a sample render past the budget"
    ),
)
