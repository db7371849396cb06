"""Mailgun, in one place: `mailgun://API_KEY@api.mailgun.net/DOMAIN` (`api.eu.mailgun.net` for
the EU), its MIME send API (plain HTTP, no SDK), its errors, and the read `outpost check` makes.

https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
(POST /v3/{domain}/messages.mime: `to` and the `message` file; `{"id", "message"}`),
https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses (the statuses),
GET /v3/domains/{domain} (the read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote

from shared.accounts.addresses import Sender
from shared.mail_providers.spec import (
    OUTPOST_ID,
    THROTTLED,
    Answer,
    ApiSpec,
    MailApi,
    MailText,
    Outbound,
    Requests,
    Rule,
    text_of,
)
from shared.mail_providers.urls import read_key_url
from shared.verdicts import Refusal, Verdict

# The code a 400 about the recipient is read as: "'to' parameter is not a valid address".
INVALID_TO = "invalid_to"


class Mailgun(ApiSpec):
    """POSTs the mail's raw bytes as the `message` file with `to` and the outbox id as the user
    variable `outpost_id` (its reports carry it back), multipart, to /v3/DOMAIN/messages.mime
    with HTTP Basic (`api`, key); the answer's `id` is the provider's id. Its errors carry no
    code: a status and a `message`."""

    name = "mailgun"
    label = "Mailgun"
    schemes = frozenset({"mailgun"})
    errors: ClassVar[Mapping[str, Rule]] = {
        INVALID_TO: Rule(Verdict.PERMANENT, "recipient refused", Refusal.ADDRESS),
        "401": Rule(Verdict.PROVIDER_DOWN, "bad API key"),
        "403": Rule(Verdict.PROVIDER_DOWN, "access denied"),
        "404": Rule(Verdict.PROVIDER_DOWN, "domain not found"),
        "429": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }

    def parse(self, url: str) -> MailApi:
        """`mailgun://API_KEY@host/DOMAIN`."""
        read = read_key_url(url, "mailgun://API_KEY@api.mailgun.net/mg.example.com")
        if read.account is not None or not read.path or "/" in read.path:
            raise ValueError("mailgun:// takes the API key before the host and the domain after")
        return MailApi(self.name, read.endpoint, read.key, domain=read.path)

    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """The multipart form of one mail to messages.mime."""
        url = f"{provider.endpoint}/v3/{quote(provider.domain or '', safe='')}/messages.mime"
        auth = ("api", provider.key)

        def request(mail: MailText) -> Outbound:
            boundary = f"outpost-{mail.id}"
            fields = {"to": mail.recipient, f"v:{OUTPOST_ID}": mail.id}
            body = b"".join(
                [
                    *(_field(boundary, name, value) for name, value in fields.items()),
                    f'--{boundary}\r\nContent-Disposition: form-data; name="message"; '
                    'filename="message.mime"\r\nContent-Type: message/rfc822\r\n\r\n'.encode(),
                    mail.data,
                    f"\r\n--{boundary}--\r\n".encode(),
                ]
            )
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            return Outbound(url, content=body, headers=headers, auth=auth)

        return request

    def check(self, provider: MailApi) -> Outbound:
        """GET /v3/domains/DOMAIN: the sending domain."""
        domain = quote(provider.domain or "", safe="")
        return Outbound(f"{provider.endpoint}/v3/domains/{domain}", auth=("api", provider.key))

    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """The status (a 400 about `to`: INVALID_TO) and the JSON's `message`."""
        text = text_of(answer, "message")
        if answer.status == 400 and "'to' parameter is not a valid address" in text:
            return INVALID_TO, text
        return str(answer.status), text

    def provider_id(self, answer: Answer) -> str | None:
        """The answer's `id`, angle brackets and all, as the reports match it."""
        found = answer.body.get("id")
        return found if isinstance(found, str) else None


def _field(boundary: str, name: str, value: str) -> bytes:
    """One text field of a multipart form, its boundary before it."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
    return f"{head}{value}\r\n".encode()


SPEC = Mailgun()
