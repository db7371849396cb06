"""A gateway speaking Outpost's own contract, in one place: `SMS_URL=https://…`, a POST of
`{id, to, body}` with `Authorization: Bearer $SMS_TOKEN` and `Idempotency-Key: <id>`, judged by
its HTTP status alone; it sends no receipts."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.sms_providers.spec import (
    Answer,
    Outbound,
    Requests,
    SmsContext,
    SmsProvider,
    SmsSpec,
    SmsText,
)
from shared.sms_providers.urls import refuse_clear_text
from shared.verdicts import Judgement, judge_http


class Gateway(SmsSpec):
    """POSTs `{id, to, body}` as JSON; 2xx is success, the rest as every HTTP endpoint's."""

    name = "gateway"
    label = "Gateway"
    schemes = frozenset({"http", "https"})

    def parse(self, url: str) -> SmsProvider:
        """`https://…` (or `http://` to a loopback host): the URL requests go to, as given."""
        refuse_clear_text(urlsplit(url))
        return SmsProvider(self.name, url)

    def requests(self, provider: SmsProvider, context: SmsContext) -> Requests:
        """JSON to the URL, with the bearer token when SMS_TOKEN is set."""
        token = {"Authorization": f"Bearer {context.sms_token}"} if context.sms_token else {}

        def request(message: SmsText) -> Outbound:
            return Outbound(
                provider.endpoint,
                json={"id": message.id, "to": message.to, "body": message.body},
                headers={**token, "Idempotency-Key": message.id},
            )

        return request

    def judge(self, answer: Answer) -> Judgement | None:
        """By the HTTP status alone."""
        return judge_http(answer.status, answer.reason)


SPEC = Gateway()
