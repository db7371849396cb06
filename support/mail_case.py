"""What a conformance case of a mail provider declares (support/mail_conformance.py holds one per
provider, tests/relay/test_mail_conformance.py runs them), and what every case shares: the mail
sent, and how a request that carries it is read back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from outbox_relay.channels import Email
from shared.accounts.addresses import Sender
from shared.mail_providers.spec import MailContent, MailProvider
from support.http_stand_in import GatewayRequest
from support.mail_stand_in import MailStandIn

MAIL_FROM = Sender("Outpost Démo", "no-reply@example.com")
_UNSUBSCRIBE = "https://outpost.example.com/v1/unsubscribe/abc"
CONTENT = MailContent(
    "Votre code : 123456",
    'Your code is 123456 & "more"? a+b=c; 100% é\n',
    "<p>Your code is <b>123456</b> &amp; é</p>\n",
    (
        ("Message-ID", "<0b8f6d3e-5a41-4c1e-9f0e-3c2a1b0d9e8f@example.com>"),
        ("List-Unsubscribe", f"<{_UNSUBSCRIBE}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ),
)


def _raw(recipient: str) -> bytes:
    """CONTENT as the RFC 5322 bytes SMTP would carry to `recipient`."""
    mail = EmailMessage(policy=policy.SMTP)
    mail["From"] = f"{MAIL_FROM.name} <{MAIL_FROM.address}>"
    mail["To"] = recipient
    mail["Subject"] = CONTENT.subject
    for name, value in CONTENT.headers:
        mail[name] = value
    mail.set_content(CONTENT.text)
    mail.add_alternative(CONTENT.html, subtype="html")
    return mail.as_bytes()


def mail_to(recipient: str) -> Email:
    """The one mail every case sends, to `recipient`."""
    return Email(
        "0b8f6d3e-5a41-4c1e-9f0e-3c2a1b0d9e8f",
        MAIL_FROM.address,
        recipient,
        _raw(recipient),
        content=CONTENT,
    )


@dataclass(frozen=True)
class Sent:
    """A mail as a provider's request carries it: the recipient, the sender's address, the
    subject, both bodies, the headers beside them by name, and the outbox id as custom data."""

    to: str
    sender: str
    subject: str
    text: str
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # The outbox id in the custom data its reports carry back, where the provider takes some.
    reference: str | None = None


def read_raw(to: str, data: bytes, reference: str | None = None) -> Sent:
    """A mail sent as its raw bytes, read back, with the custom data sent beside it."""
    mail = message_from_bytes(data, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return Sent(
        to,
        str(mail["From"].addresses[0].addr_spec),
        str(mail["Subject"]),
        # The wire's CRLF line ends, read as the text's own.
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
        {name: str(mail[name]) for name, _ in CONTENT.headers if mail[name] is not None},
        reference,
    )


@dataclass(frozen=True)
class ApiCase:
    """A provider reached by its API: a stand-in built to its documentation, how a request it
    received carries the mail, the script that makes it answer each row of its table, and
    whether the provider refuses a recipient when asked (SES takes every one, and reports)."""

    stand_in: Callable[[str], MailStandIn]  # with the key given
    read: Callable[[GatewayRequest], Sent]
    behaviour: Callable[[str], int]
    refuses: bool = True


@dataclass(frozen=True)
class Case:
    """A provider's URL as MAIL_URL gives it, what it reads to, the credential it holds, URLs it
    refuses; and, for an API, its ApiCase."""

    url: str
    parsed: MailProvider
    secret: str
    bad_urls: tuple[str, ...]
    api: ApiCase | None = None
