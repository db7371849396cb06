"""One case per mail provider of the registry (shared/mail_providers/registry.py): all that
tests/relay/test_mail_conformance.py needs to know of it. A new provider adds its case here and
gets the whole suite."""

from __future__ import annotations

from shared.mail_providers.spec import MailApi
from shared.settings.smtp_url import SmtpSettings, StartTls
from support import postmark_api, sendgrid_api
from support.http_stand_in import GatewayRequest
from support.mail_case import ApiCase, Case, Sent

SMTP_PASSWORD = "smtp-password-hunter2"
POSTMARK_TOKEN = "postmark-server-token-hunter2"
SENDGRID_KEY = "SG.sendgrid-key-hunter2"


def _postmark_sent(request: GatewayRequest) -> Sent:
    """Postmark's JSON read back."""
    body = request.json
    return Sent(
        body["To"],
        body["From"].rpartition("<")[2].rstrip(">"),
        body["Subject"],
        body["TextBody"],
        body["HtmlBody"],
        {header["Name"]: header["Value"] for header in body["Headers"]},
    )


def _sendgrid_sent(request: GatewayRequest) -> Sent:
    """SendGrid's JSON read back."""
    body = request.json
    parts = {part["type"]: part["value"] for part in body["content"]}
    return Sent(
        body["personalizations"][0]["to"][0]["email"],
        body["from"]["email"],
        body["subject"],
        parts["text/plain"],
        parts["text/html"],
        body["headers"],
    )


SMTP = Case(
    url=f"smtp://outpost:{SMTP_PASSWORD}@smtp.example.com:587",
    parsed=SmtpSettings(
        "smtp.example.com", 587, False, StartTls.REQUIRED, "outpost", SMTP_PASSWORD, 30.0
    ),
    secret=SMTP_PASSWORD,
    bad_urls=(
        f"smtp://outpost:{SMTP_PASSWORD}@",
        f"smtp://outpost:{SMTP_PASSWORD}@smtp.example.com:587?tls=1",
        f"smtp://outpost:{SMTP_PASSWORD}@smtp.example.com:587?starttls=false",
    ),
)
POSTMARK = Case(
    url=f"postmark://{POSTMARK_TOKEN}@api.postmarkapp.com?stream=outbound",
    parsed=MailApi("postmark", "https://api.postmarkapp.com", POSTMARK_TOKEN, stream="outbound"),
    secret=POSTMARK_TOKEN,
    bad_urls=(
        f"postmark://{POSTMARK_TOKEN}@",
        f"postmark://{POSTMARK_TOKEN}@api.postmarkapp.com?streams=x",
        f"postmark://{POSTMARK_TOKEN}@api.postmarkapp.com:0",
        f"postmark://x:{POSTMARK_TOKEN}@api.postmarkapp.com",
        f"postmark://{POSTMARK_TOKEN}@api.postmarkapp.com/email",
    ),
    api=ApiCase(postmark_api.PostmarkApi, _postmark_sent, int),
)
SENDGRID = Case(
    url=f"sendgrid://{SENDGRID_KEY}@api.sendgrid.com",
    parsed=MailApi("sendgrid", "https://api.sendgrid.com", SENDGRID_KEY),
    secret=SENDGRID_KEY,
    bad_urls=(
        f"sendgrid://{SENDGRID_KEY}@",
        f"sendgrid://{SENDGRID_KEY}@api.sendgrid.com?x=1",
        f"sendgrid://{SENDGRID_KEY}@api.sendgrid.com:99999",
        f"sendgrid://{SENDGRID_KEY}@api.sendgrid.com/v3",
    ),
    api=ApiCase(
        sendgrid_api.SendGridApi,
        _sendgrid_sent,
        lambda code: sendgrid_api.RECIPIENT_REFUSED if "." in code else int(code),
    ),
)

CASES = {"smtp": SMTP, "postmark": POSTMARK, "sendgrid": SENDGRID}
