"""One case per mail provider of the registry (shared/mail_providers/registry.py): all that
tests/relay/test_mail_conformance.py needs to know of it. A new provider adds its case here and
gets the whole suite."""

from __future__ import annotations

import base64

from shared.mail_providers.spec import MailApi
from shared.settings.smtp_url import SmtpSettings, StartTls
from support import mailgun_api, postmark_api, resend_api, sendgrid_api, ses_api
from support.http_stand_in import GatewayRequest
from support.mail_case import ApiCase, Case, Sent, read_raw

SMTP_PASSWORD = "smtp-password-hunter2"
POSTMARK_TOKEN = "postmark-server-token-hunter2"
SENDGRID_KEY = "SG.sendgrid-key-hunter2"
MAILGUN_KEY = "mailgun-key-hunter2"
SES_SECRET = "ses-secret-key-hunter2"
RESEND_KEY = "re_resend_key_hunter2"


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
        body["Metadata"]["outpost_id"],
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
        body["custom_args"]["outpost_id"],
    )


def _mailgun_sent(request: GatewayRequest) -> Sent:
    """Mailgun's form read back: `to`, and the raw mail."""
    form = mailgun_api.fields(request)
    return read_raw(form["to"].decode(), form["message"], form["v:outpost_id"].decode())


def _ses_sent(request: GatewayRequest) -> Sent:
    """SES's JSON read back: the destination, and the raw mail."""
    body = request.json
    [to] = body["Destination"]["ToAddresses"]
    return read_raw(to, base64.b64decode(body["Content"]["Raw"]["Data"]))


def _resend_sent(request: GatewayRequest) -> Sent:
    """Resend's JSON read back."""
    body = request.json
    [to] = body["to"]
    sender = body["from"].rpartition("<")[2].rstrip(">")
    [tag] = body["tags"]
    reference = tag["value"] if tag["name"] == "outpost_id" else None
    return Sent(to, sender, body["subject"], body["text"], body["html"], body["headers"], reference)


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

MAILGUN = Case(
    url=f"mailgun://{MAILGUN_KEY}@api.eu.mailgun.net/mg.example.com",
    parsed=MailApi("mailgun", "https://api.eu.mailgun.net", MAILGUN_KEY, domain="mg.example.com"),
    secret=MAILGUN_KEY,
    bad_urls=(
        f"mailgun://{MAILGUN_KEY}@api.mailgun.net",
        f"mailgun://{MAILGUN_KEY}@api.mailgun.net/a/b",
        f"mailgun://api:{MAILGUN_KEY}@api.mailgun.net/mg.example.com",
        f"mailgun://{MAILGUN_KEY}@api.mailgun.net/mg.example.com?x=1",
    ),
    api=ApiCase(
        mailgun_api.MailgunApi,
        _mailgun_sent,
        lambda code: mailgun_api.RECIPIENT_REFUSED if code == "invalid_to" else int(code),
    ),
)
SES = Case(
    url=f"ses://AKIAOUTPOST:{SES_SECRET}@email.eu-west-1.amazonaws.com",
    parsed=MailApi(
        "ses",
        "https://email.eu-west-1.amazonaws.com",
        SES_SECRET,
        account="AKIAOUTPOST",
        region="eu-west-1",
    ),
    secret=SES_SECRET,
    bad_urls=(
        f"ses://{SES_SECRET}@email.eu-west-1.amazonaws.com",
        f"ses://AKIAOUTPOST:{SES_SECRET}@ses.example.com",
        f"ses://AKIAOUTPOST:{SES_SECRET}@ses.example.com?region=Europe",
        f"ses://AKIAOUTPOST:{SES_SECRET}@email.eu-west-1.amazonaws.com/v2",
    ),
    api=ApiCase(ses_api.SesApi, _ses_sent, ses_api.behaviour, refuses=False),
)
RESEND = Case(
    url=f"resend://{RESEND_KEY}@api.resend.com",
    parsed=MailApi("resend", "https://api.resend.com", RESEND_KEY),
    secret=RESEND_KEY,
    bad_urls=(
        f"resend://{RESEND_KEY}@",
        f"resend://{RESEND_KEY}@api.resend.com/emails",
        f"resend://x:{RESEND_KEY}@api.resend.com",
    ),
    api=ApiCase(resend_api.ResendApi, _resend_sent, resend_api.behaviour),
)

CASES = {
    "smtp": SMTP,
    "postmark": POSTMARK,
    "sendgrid": SENDGRID,
    "mailgun": MAILGUN,
    "ses": SES,
    "resend": RESEND,
}
