"""`outpost check`'s HTTP APIs: a provider reached by a read its documentation names, nothing
sent; `--send-test`'s one real mail handed over as the relay hands one. Loaded only when a mail
slot holds an API (httpx, the relay's channel)."""

from __future__ import annotations

import html
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid

import httpx

from outbox_relay.channels import Email
from outbox_relay.channels.mail_api import MailApiChannel
from outbox_relay.failures import DeliveryFailure
from outpost.finding import Finding
from shared.accounts.addresses import Sender
from shared.mail_providers.registry import api_named
from shared.mail_providers.spec import MAIL_API_TIMEOUT, Answer, MailApi, MailContent


def api_sent(variable: str, provider: MailApi, mail_from: Sender, address: str) -> Finding:
    """`--send-test ADDRESS` through an API: one real mail, as the relay hands one over."""
    named = f"{variable} {provider.kind} {provider.endpoint}: test mail to {address}"
    text = (
        f"`outpost check --send-test` sent this mail through {provider.kind}'s API, as the "
        "relay sends Outpost's mail: it reached you.\n"
    )
    message_id = make_msgid("outpost-check", mail_from.domain)
    content = MailContent(
        "Outpost test mail", text, f"<p>{html.escape(text)}</p>\n", (("Message-ID", message_id),)
    )
    mail = EmailMessage(policy=SMTP)
    mail["From"] = formataddr((mail_from.name, mail_from.address))
    mail["To"] = address
    mail["Subject"] = content.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id
    mail.set_content(content.text)
    mail.add_alternative(content.html, subtype="html")
    email = Email("outpost-check", mail_from.address, address, mail.as_bytes(), content=content)
    channel = MailApiChannel(api_named(provider.kind), provider, mail_from)
    try:
        provider_id = channel.send(email, time.monotonic() + MAIL_API_TIMEOUT)
    except DeliveryFailure as failure:
        return Finding.refused(named, failure.description)
    finally:
        channel.close()
    return Finding(named, f"ok, the API took it (its id: {provider_id}); see that it arrives")


def reached(variable: str, provider: MailApi) -> Finding:
    """The provider's documented read (spec.check): reached, and the key taken, or why not;
    the key in no line."""
    spec = api_named(provider.kind)
    subject = f"{variable} {provider.kind} {provider.endpoint}"
    request = spec.check(provider)
    try:
        with httpx.Client(timeout=MAIL_API_TIMEOUT) as client:
            response = client.get(request.url, headers=dict(request.headers), auth=request.auth)
    except httpx.HTTPError as exc:
        said = f"not reached ({type(exc).__name__}: {exc}): check the host in {variable}"
        return Finding.refused(subject, said)
    headers = {name.lower(): value for name, value in response.headers.items()}
    answer = Answer(response.status_code, response.reason_phrase, response.content, headers)
    judgement = spec.checked(answer)
    if judgement is not None:
        return Finding.refused(subject, judgement.description)
    return Finding(subject, f"ok, {spec.label} reached and the key taken; no mail sent")
