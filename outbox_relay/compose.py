"""Turning a claimed outbox row into the message a channel sends."""

from __future__ import annotations

import binascii
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import cache, lru_cache
from typing import Any

from outbox_relay.channels import Email, Message, SmsMessage, WebhookMessage
from outbox_relay.claims import Claimed
from outbox_relay.failures import DeliveryFailure, Verdict
from outbox_relay.render import RenderedEmail, Templates
from shared.accounts.addresses import Sender
from shared.clock import utcnow
from shared.mail_providers.spec import MailContent
from shared.messaging import webhook_endpoints
from shared.messaging.outbox import WEBHOOK, Channel, Purpose
from shared.messaging.sms_autofill import NO_AUTOFILL, SmsAutofill
from shared.runtime import tracing
from shared.secrets.secretbox import SecretBox
from shared.settings.code_link import CodeLink

# UTF-8 with quoted-printable headers: readable in the raw, 7-bit safe.
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP


# The one-click unsubscribe link of an address (shared.accounts.unsubscribe), where the API can be
# reached.
UnsubscribeUrl = Callable[[str], str]
# The envelope sender of a message by its delivery id: BOUNCE_ADDRESS with its VERP token.
EnvelopeSender = Callable[[str], str]


def compose(
    row: Claimed,
    box: SecretBox,
    mail_from: Sender,
    templates: Templates,
    unsubscribe_url: UnsubscribeUrl | None = None,
    code_link: CodeLink | None = None,
    autofill: SmsAutofill = NO_AUTOFILL,
    envelope_sender: EnvelopeSender | None = None,
) -> Message:
    """Render the row's template with its parameters, secrets decrypted only in memory.

    A "no account" mail, to someone who never asked us for anything, carries a one-click
    unsubscribe link (RFC 8058: the headers and a link in its text) when `unsubscribe_url`
    can make one; a mail with a code, a one-click link with it when `code_link` can
    (CODE_LINK_URL); an SMS with a code, what lets the phone fill it in (`autofill`). A mail
    goes from `envelope_sender`'s address when there is one (BOUNCE_ADDRESS), asking for
    delivery status notifications where the server offers them.
    """
    if row.channel == Channel.WEBHOOK:
        return _event(row, box)
    params: dict[str, Any] = tracing.untraced(row.params)
    if row.secret_params:
        params.update(box.open(row.secret_params))
    if row.channel == Channel.SMS:
        text = templates.sms(row.template, row.locale, params)
        body = autofill.ended(text, params.get("code"))
        return SmsMessage(id=row.public_id, to=row.recipient, body=body)
    if code_link is not None and "code" in params:
        link = code_link(params["code"], params.get("token"), row.recipient, row.purpose)
        params["code_link"] = link
    unsubscribe = None
    if row.purpose == Purpose.NO_ACCOUNT and unsubscribe_url is not None:
        unsubscribe = params["unsubscribe_url"] = unsubscribe_url(row.recipient)
    rendered = templates.email(row.template, row.locale, params)
    content = _content(row, mail_from, rendered, unsubscribe)
    return Email(
        id=row.public_id,
        sender=mail_from.address if envelope_sender is None else envelope_sender(row.public_id),
        recipient=row.recipient,
        data=_mail(row, mail_from, content),
        priority=row.priority,
        content=content,
        reports=envelope_sender is not None,
    )


def _event(row: Claimed, box: SecretBox) -> WebhookMessage:
    """A lifecycle event's body; an endpoint's URL and key from its sealed parameters."""
    event = json.dumps(tracing.untraced(row.params), separators=(",", ":"), ensure_ascii=False)
    if row.recipient == WEBHOOK:
        return WebhookMessage(id=row.public_id, body=event.encode())
    if not row.secret_params:  # never sent to WEBHOOK_URL instead
        raise DeliveryFailure(Verdict.PERMANENT, "the endpoint's URL and secret are not kept")
    endpoint = box.open(row.secret_params)
    return WebhookMessage(
        id=row.public_id,
        body=event.encode(),
        url=endpoint[webhook_endpoints.URL],
        key=webhook_endpoints.key_of(endpoint[webhook_endpoints.SECRET]),
    )


def _content(
    row: Claimed, mail_from: Sender, rendered: RenderedEmail, unsubscribe: str | None
) -> MailContent:
    """What the mail says, the same whichever provider carries it: the rendered parts, its
    Message-ID and, for a stranger's mail, the one-click unsubscribe headers (RFC 8058)."""
    headers = [("Message-ID", message_id(row.public_id, mail_from))]
    if unsubscribe is not None:
        headers += [
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
    return MailContent(rendered.subject, rendered.text, rendered.html, tuple(headers))


def _mail(row: Claimed, mail_from: Sender, content: MailContent) -> bytes:
    """The RFC 5322 bytes of a rendered mail: its headers, then its text and HTML parts.

    Written out directly rather than through the email package, which took most of a drain's
    CPU; the layout is fixed, and every header value is free of CR and LF (the recipient and
    MAIL_FROM are validated, the subject is one line) but for the CRLF folds of its encoded
    words.
    """
    boundary = f"=_outpost_{_boundary()}"
    message_header, *unsubscribe = (f"{name}: {value}" for name, value in content.headers)
    head = [
        f"From: {_from_header(mail_from)}",
        f"To: {row.recipient}",
        f"Subject: {_header_text(content.subject, 'Subject')}",
        # A numeric zone: RFC 5322 calls `GMT` obsolete and `-0000` an unknown zone.
        f"Date: {_date(int(utcnow().timestamp()))}",
        message_header,
        "MIME-Version: 1.0",
        f"Content-Language: {row.locale}",
        "Content-Type: multipart/alternative;",
        f' boundary="{boundary}"',
        *unsubscribe,
    ]
    body = [
        *_part(boundary, "plain", content.text),
        *_part(boundary, "html", content.html),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join([*head, "", *body]).encode("ascii")


# Random boundaries drawn many at a time: each draw of random bytes lets go of the
# interpreter's lock, and a sender would then wait to take it back, once a mail.
_SPARE_BOUNDARIES: list[str] = []
_BOUNDARIES_A_DRAW = 64


def _boundary() -> str:
    """32 random hexadecimal digits, drawn by the secrets module, never given twice."""
    while True:
        try:
            return _SPARE_BOUNDARIES.pop()
        except IndexError:
            drawn = secrets.token_hex(16 * _BOUNDARIES_A_DRAW)
            _SPARE_BOUNDARIES.extend(drawn[at : at + 32] for at in range(0, len(drawn), 32))


def _part(boundary: str, subtype: str, text: str) -> list[str]:
    """One text part, lines ended by CRLF: as it is when 7bit allows (`_seven_bit`), else
    quoted-printable."""
    lines, encoding = _seven_bit(text), "7bit"
    if lines is None:
        encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
        lines, encoding = encoded.splitlines(), "quoted-printable"
    return [
        f"--{boundary}",
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
        "",
        *lines,
    ]


# What a 7bit body holds as it is (RFC 2045 2.7): printable ASCII, tabs and line ends.
_SEVEN_BIT = bytes(range(0x20, 0x7F)) + b"\t\n"
# RFC 5322 2.1.1: at most 998 characters a line.
_LONGEST_LINE = 998


def _seven_bit(text: str) -> list[str] | None:
    """The lines of `text` if it may go as 7bit, as most mails in English may; else None.

    Quoted-printable encoding of a mail's HTML cost a drain more CPU than rendering its
    template, for a text that reads the same in the raw but for each `=` written `=3D`.
    """
    if not text.isascii() or text.encode("ascii").translate(None, _SEVEN_BIT):
        return None
    lines = text.split("\n")
    return lines if max(map(len, lines)) <= _LONGEST_LINE else None


def _header_text(value: str, name: str) -> str:
    """A value of header `name` as is when ASCII, else in RFC 2047 encoded words of at most 75
    characters, folded with CRLF (the email package folds with a bare LF by default)."""
    if value.isascii():
        return value
    return Header(value, _UTF8, header_name=name).encode(maxlinelen=76, linesep="\r\n")


@lru_cache(maxsize=1)
def _date(second: int) -> str:
    """The Date header of a second since the epoch: written once a second, not once a mail."""
    return format_datetime(datetime.fromtimestamp(second, UTC))


@cache
def _from_header(mail_from: Sender) -> str:
    """MAIL_FROM as the From header: the display name encoded and folded if not ASCII, the
    address on a line of its own."""
    if mail_from.name.isascii():
        return formataddr((mail_from.name, mail_from.address))
    return f"{_header_text(mail_from.name, 'From')}\r\n <{mail_from.address}>"


def message_id(public_id: str, mail_from: Sender) -> str:
    """The Message-ID of a row: the same on every try, so receivers can drop duplicates."""
    return f"<{public_id}@{mail_from.domain}>"
