"""Resend, in one place: `resend://API_KEY@api.resend.com`, its Send Email API (plain HTTP, no
SDK), its errors, and the read `outpost check` makes.

https://resend.com/docs/api-reference/emails/send-email (the request, `{"id"}`, the
Idempotency-Key header), https://resend.com/docs/api-reference/errors (`name`, `message`),
https://resend.com/docs/api-reference/rate-limit (429 and retry-after),
https://resend.com/docs/api-reference/domains/list-domains (GET /domains, the read).
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
from shared.mail_providers.urls import bearer, read_lone_key_url
from shared.verdicts import Judgement, Refusal, Verdict

# The code a 422 `validation_error` about the recipient is read as.
INVALID_TO = "invalid_to"
_SENDING_ONLY = "restricted_api_key"


class Resend(ApiSpec):
    """POSTs the mail as JSON (from, to, subject, text, html, headers, and the outbox id as a
    tag, which its webhooks carry back) to /emails with a Bearer key and the outbox id as its
    Idempotency-Key; the answer's `id` is the provider's id."""

    name = "resend"
    label = "Resend"
    schemes = frozenset({"resend"})
    errors: ClassVar[Mapping[str, Rule]] = {
        INVALID_TO: Rule(Verdict.PERMANENT, "recipient refused", Refusal.ADDRESS),
        "validation_error": Rule(Verdict.PERMANENT, "invalid request"),
        # What the sending endpoint answers a key that does not exist, and a sender whose
        # domain is not verified (testing mail only to the account's own address).
        "validation_error 401": Rule(Verdict.PROVIDER_DOWN, "bad API key"),
        "validation_error 403": Rule(Verdict.PROVIDER_DOWN, "domain not verified"),
        "missing_api_key": Rule(Verdict.PROVIDER_DOWN, "no API key"),
        "invalid_api_key": Rule(Verdict.PROVIDER_DOWN, "bad API key"),
        "invalid_from_address": Rule(Verdict.PROVIDER_DOWN, "sender refused"),
        "invalid_access": Rule(Verdict.PROVIDER_DOWN, "key not allowed to send"),
        "daily_quota_exceeded": Rule(Verdict.PROVIDER_DOWN, "daily quota exceeded"),
        "monthly_quota_exceeded": Rule(Verdict.PROVIDER_DOWN, "monthly quota exceeded"),
        "rate_limit_exceeded": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }

    def parse(self, url: str) -> MailApi:
        """`resend://API_KEY@host`."""
        read = read_lone_key_url(url, "resend://API_KEY@api.resend.com")
        return MailApi(self.name, read.endpoint, read.key)

    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """The JSON of one mail to /emails."""
        url = f"{provider.endpoint}/emails"
        sender = formataddr((mail_from.name, mail_from.address))

        def request(mail: MailText) -> Outbound:
            content = mail.content
            assert content is not None
            body = {
                "from": sender,
                "to": [mail.recipient],
                "subject": content.subject,
                "text": content.text,
                "html": content.html,
                "headers": dict(content.headers),
                "tags": [{"name": OUTPOST_ID, "value": mail.id}],
            }
            headers = {**bearer(provider.key), "Idempotency-Key": mail.id}
            return Outbound(url, json=body, headers=headers)

        return request

    def check(self, provider: MailApi) -> Outbound:
        """GET /domains: the account's domains."""
        return Outbound(f"{provider.endpoint}/domains", headers=bearer(provider.key))

    def checked(self, answer: Answer) -> Judgement | None:
        """A key restricted to sending is refused the read, and so taken: what the relay needs."""
        if self.code_of(answer)[0] == _SENDING_ONLY:
            return None
        return self.judge(answer)

    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """The error JSON's `name` (a validation error about the key, with its status; about
        `to`, INVALID_TO) and `message`."""
        name, text = answer.body.get("name"), text_of(answer, "message")
        if name == "validation_error" and answer.status in (401, 403):
            return f"{name} {answer.status}", text
        if name == "validation_error" and "`to`" in text:
            return INVALID_TO, text
        return (name if isinstance(name, str) else None), text

    def provider_id(self, answer: Answer) -> str | None:
        """The answer's `id`."""
        found = answer.body.get("id")
        return found if isinstance(found, str) else None


SPEC = Resend()
