"""Turning a claimed outbox row into the message a channel sends."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from outbox_relay.channels import Message, SmsMessage
from outbox_relay.render import render_email, render_sms
from outbox_relay.store import Claimed
from shared.secretbox import SecretBox


def compose(row: Claimed, box: SecretBox, mail_from: str) -> Message:
    """Render the row's template with its parameters, secrets decrypted only in memory."""
    params: dict[str, Any] = dict(row.params)
    if row.secret_params:
        params.update(box.open(row.secret_params))
    if row.channel == "sms":
        return SmsMessage(
            id=row.public_id, to=row.recipient, body=render_sms(row.template, row.locale, params)
        )
    rendered = render_email(row.template, row.locale, params)
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = row.recipient
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(row.public_id, mail_from)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the body: making it multipart moves Content-* headers into the first part.
    message["Content-Language"] = row.locale
    return message


def message_id(public_id: str, mail_from: str) -> str:
    """The Message-ID of a row: the same on every try, so receivers can drop duplicates."""
    domain = Address(addr_spec=parseaddr(mail_from)[1]).domain or "outpost.invalid"
    return f"<{public_id}@{domain}>"
