"""SendGrid, in one place: `sendgrid://API_KEY@api.sendgrid.com`, its v3 Mail Send API (plain
HTTP, no SDK), its errors, and the read `outpost check` makes.

https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send (the request, `202` with
X-Message-Id), https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors
(the error JSON), https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions
(GET /v3/scopes, the read).
"""

from __future__ import annotations

from collections.abc import Mapping
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
)
from shared.mail_providers.urls import bearer, read_lone_key_url
from shared.verdicts import Refusal, Verdict

# The field a 400 names when the recipient is no address SendGrid takes.
RECIPIENT_FIELD = "personalizations.0.to.0.email"


class SendGrid(ApiSpec):
    """POSTs the mail as JSON (personalizations, from, subject, content, headers) to
    /v3/mail/send with a Bearer key; the `202`'s X-Message-Id header is the provider's id.
    Its errors carry no code: a status, and the field each message is about."""

    name = "sendgrid"
    label = "SendGrid"
    schemes = frozenset({"sendgrid"})
    errors: ClassVar[Mapping[str, Rule]] = {
        RECIPIENT_FIELD: Rule(Verdict.PERMANENT, "recipient refused", Refusal.ADDRESS),
        "401": Rule(Verdict.PROVIDER_DOWN, "bad API key"),
        # A key without the Mail Send scope, an unverified sender, a temporary block.
        "403": Rule(Verdict.PROVIDER_DOWN, "forbidden"),
        "413": Rule(Verdict.PERMANENT, "payload too large"),
        "429": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }

    def parse(self, url: str) -> MailApi:
        """`sendgrid://API_KEY@host`."""
        read = read_lone_key_url(url, "sendgrid://API_KEY@api.sendgrid.com")
        return MailApi(self.name, read.endpoint, read.key)

    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """The JSON of one mail to /v3/mail/send."""
        url = f"{provider.endpoint}/v3/mail/send"
        headers = bearer(provider.key)
        sender = {
            "email": mail_from.address,
            **({"name": mail_from.name} if mail_from.name else {}),
        }

        def request(mail: MailText) -> Outbound:
            content = mail.content
            assert content is not None
            body = {
                "personalizations": [{"to": [{"email": mail.recipient}]}],
                "from": sender,
                "subject": content.subject,
                "content": [
                    {"type": "text/plain", "value": content.text},
                    {"type": "text/html", "value": content.html},
                ],
                "headers": dict(content.headers),
                "custom_args": {OUTPOST_ID: mail.id},
            }
            return Outbound(url, json=body, headers=headers)

        return request

    def check(self, provider: MailApi) -> Outbound:
        """GET /v3/scopes: what the key may do."""
        return Outbound(f"{provider.endpoint}/v3/scopes", headers=bearer(provider.key))

    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """A 400's first error's `field`, else the status; the errors' messages."""
        errors = answer.body.get("errors")
        listed = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        text = "; ".join(str(e.get("message", "")) for e in listed) or answer.reason
        fields = [e.get("field") for e in listed if isinstance(e.get("field"), str)]
        if answer.status == 400 and fields:
            return str(fields[0]), text
        return str(answer.status), text

    def provider_id(self, answer: Answer) -> str | None:
        """The X-Message-Id header of the `202`."""
        return answer.headers.get("x-message-id") or None


SPEC = SendGrid()
