"""Postmark, in one place: `postmark://SERVER_TOKEN@api.postmarkapp.com[?stream=outbound]`, its
single-email API (plain HTTP, no SDK), its error codes, and the read `outpost check` makes.

https://postmarkapp.com/developer/api/email-api (the request and its answer),
https://postmarkapp.com/developer/api/overview#error-codes (the codes),
https://postmarkapp.com/developer/api/server-api (GET /server, the read).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import formataddr
from typing import ClassVar

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
from shared.mail_providers.urls import read_lone_key_url
from shared.verdicts import Refusal, Verdict

_BAD_TOKEN = "bad or missing server token"


class Postmark(ApiSpec):
    """POSTs the mail as JSON (From, To, Subject, TextBody, HtmlBody, Headers, MessageStream, and
    the outbox id in Metadata, which its webhooks carry back) to /email with
    X-Postmark-Server-Token; the answer's `MessageID` is the provider's id."""

    name = "postmark"
    label = "Postmark"
    schemes = frozenset({"postmark"})
    errors: ClassVar[Mapping[str, Rule]] = {
        "10": Rule(Verdict.PROVIDER_DOWN, _BAD_TOKEN),
        "100": Rule(Verdict.PROVIDER_DOWN, "maintenance"),
        "300": Rule(Verdict.PERMANENT, "invalid email request"),
        "400": Rule(Verdict.PROVIDER_DOWN, "sender signature not found"),
        "401": Rule(Verdict.PROVIDER_DOWN, "sender signature not confirmed"),
        "405": Rule(Verdict.PROVIDER_DOWN, "not allowed to send"),
        # A hard bounce or spam complaint before: Postmark refuses the address.
        "406": Rule(Verdict.PERMANENT, "inactive recipient", Refusal.ADDRESS),
        "412": Rule(Verdict.PROVIDER_DOWN, "account pending"),
        "413": Rule(Verdict.PROVIDER_DOWN, "account may not send"),
        "429": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }

    def parse(self, url: str) -> MailApi:
        """`postmark://SERVER_TOKEN@host[?stream=NAME]`."""
        example = "postmark://SERVER_TOKEN@api.postmarkapp.com"
        read = read_lone_key_url(url, example, frozenset({"stream"}))
        stream = read.query.get("stream", "outbound")
        return MailApi(self.name, read.endpoint, read.key, stream=stream)

    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """The JSON of one email to /email."""
        url = f"{provider.endpoint}/email"
        headers = _headers(provider)
        sender = formataddr((mail_from.name, mail_from.address))

        def request(mail: MailText) -> Outbound:
            content = mail.content
            assert content is not None
            body = {
                "From": sender,
                "To": mail.recipient,
                "Subject": content.subject,
                "TextBody": content.text,
                "HtmlBody": content.html,
                "Headers": [{"Name": name, "Value": value} for name, value in content.headers],
                "MessageStream": provider.stream,
                "Metadata": {OUTPOST_ID: mail.id},
            }
            return Outbound(url, json=body, headers=headers)

        return request

    def check(self, provider: MailApi) -> Outbound:
        """GET /server: the server the token belongs to."""
        return Outbound(f"{provider.endpoint}/server", headers=_headers(provider))

    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """The error JSON's `ErrorCode` and `Message`."""
        code = answer.body.get("ErrorCode")
        return (str(code) if isinstance(code, int) else None), text_of(answer, "Message")

    def provider_id(self, answer: Answer) -> str | None:
        """The answer's `MessageID`."""
        found = answer.body.get("MessageID")
        return found if isinstance(found, str) else None


def _headers(provider: MailApi) -> dict[str, str]:
    """What every request to Postmark carries: JSON, and the server token."""
    return {"Accept": "application/json", "X-Postmark-Server-Token": provider.key}


SPEC = Postmark()
