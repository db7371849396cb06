"""Twilio, in one place: `twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=…`, its Messages
API (plain HTTP, no SDK), its error codes, and its status callbacks verified by
X-Twilio-Signature.

https://www.twilio.com/docs/messaging/api/message-resource (the request),
https://www.twilio.com/docs/api/errors (the codes),
https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (the callback),
https://www.twilio.com/docs/usage/webhooks/webhooks-security (the signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from shared.sms_providers.receipts import ReceiptDoc, ReceiptRequest, Receipts, receipts_url
from shared.sms_providers.spec import (
    THROTTLED,
    Answer,
    Outbound,
    ReceivingSpec,
    Requests,
    Rule,
    SmsContext,
    SmsProvider,
    SmsText,
)
from shared.sms_providers.urls import checked_sender, read_account_url
from shared.verdicts import Judgement, Refusal, Verdict

_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_NUMBER_REFUSED = "number refused"
_UNSIGNED = (
    "Sign the callback with X-Twilio-Signature, keyed by the auth token of the Twilio account "
    "in SMS_URL or SMS_FALLBACK_URL."
)


class Twilio(ReceivingSpec):
    """POSTs `To`, `From` (or `MessagingServiceSid`), `Body` and, with PUBLIC_URL, the
    `StatusCallback` its receipts come back to, form-encoded, with HTTP Basic (account SID,
    auth token); the answer's `sid` is the provider's id of the message."""

    name = "twilio"
    label = "Twilio"
    schemes = frozenset({"twilio"})
    errors: ClassVar[Mapping[int, Rule]] = {
        21211: Rule(Verdict.PERMANENT, _NUMBER_REFUSED, Refusal.ADDRESS),  # invalid 'To' number
        21614: Rule(Verdict.PERMANENT, _NUMBER_REFUSED, Refusal.ADDRESS),  # 'To' is not mobile
        # The recipient replied STOP.
        21610: Rule(Verdict.PERMANENT, "recipient opted out", Refusal.OPTED_OUT),
        21408: Rule(Verdict.PERMANENT, "region not allowed"),
        20003: Rule(Verdict.PROVIDER_DOWN, "bad credentials"),
        20429: Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }
    receipts = Receipts(
        id_field="MessageSid",
        status_field="MessageStatus",
        code_field="ErrorCode",
        reference_field=None,
        failed=frozenset({"undelivered", "failed"}),
        # 30005 unknown destination handset, 30006 landline or unreachable carrier.
        refused=frozenset({"30005", "30006"}),
        passing=frozenset(
            {"accepted", "scheduled", "canceled", "queued", "sending", "sent", "read"}
            | {"receiving", "received", "partially_delivered"}
        ),
        doc=ReceiptDoc(
            operation_id="postTwilioStatusCallback",
            summary="A Twilio status callback, verified by X-Twilio-Signature (404 unless SMS_URL "
            "or\nSMS_FALLBACK_URL is a Twilio account and PUBLIC_URL is set).",
            body="A Twilio status callback (MessageSid, MessageStatus, ErrorCode…).",
            media=("application/x-www-form-urlencoded",),
            parameters=(
                {
                    "name": "X-Twilio-Signature",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "Twilio's signature over PUBLIC_URL's callback URL and the "
                    "fields.",
                },
            ),
        ),
    )

    def parse(self, url: str) -> SmsProvider:
        """`twilio://SID:TOKEN@host?from=+E164` or `…?messaging_service_sid=MG…`."""
        allowed = frozenset({"from", "messaging_service_sid"})
        account = read_account_url(
            urlsplit(url), "api.twilio.com", "ACCOUNT_SID:AUTH_TOKEN", allowed
        )
        sender, service = account.query.get("from"), account.query.get("messaging_service_sid")
        if (sender is None) == (service is None):
            raise ValueError("twilio:// needs from=+E164 or messaging_service_sid=MG…")
        if service is not None and not _SERVICE_SID.fullmatch(service):
            raise ValueError("messaging_service_sid must be MG followed by 32 hex digits")
        return SmsProvider(
            self.name,
            account.endpoint,
            account=account.account,
            secret=account.secret,
            sender=checked_sender(sender),
            messaging_service_sid=service,
        )

    def requests(self, provider: SmsProvider, context: SmsContext) -> Requests:
        """Form fields to the account's Messages resource, with HTTP Basic."""
        assert provider.account is not None and provider.secret is not None
        account = quote(provider.account, safe="")
        url = f"{provider.endpoint}/2010-04-01/Accounts/{account}/Messages.json"
        fields = (
            {"MessagingServiceSid": provider.messaging_service_sid}
            if provider.messaging_service_sid
            else {"From": provider.sender or ""}
        )
        if context.public_url:
            fields["StatusCallback"] = receipts_url(context.public_url, self.name)
        auth = (provider.account, provider.secret)

        def request(message: SmsText) -> Outbound:
            form = {"To": message.to, **fields, "Body": message.body}
            return Outbound(url, form=form, auth=auth)

        return request

    def judge(self, answer: Answer) -> Judgement | None:
        """2xx is accepted, else its error JSON's `code` and `message` say whose failure."""
        if 200 <= answer.status <= 299:
            return None
        code = answer.body.get("code")
        text = answer.body.get("message") or answer.reason
        return self.coded(answer.status, code if isinstance(code, int) else None, str(text))

    def provider_id(self, answer: Answer) -> str | None:
        """The message resource's `sid`."""
        sid = answer.body.get("sid")
        return sid if isinstance(sid, str) else None

    def read_receipt(
        self, request: ReceiptRequest, providers: list[SmsProvider], context: SmsContext
    ) -> Mapping[str, str]:
        """A status callback, once its signature is the sending account's: computed with the
        auth token of the Twilio provider whose account SID the callback names (`AccountSid`),
        over the exact URL Twilio called, PUBLIC_URL's callback URL with the query string it
        came with. A request without a signature is challenged, never counted."""
        if context.public_url is None:
            request.absent()
        presented = request.header("X-Twilio-Signature").strip()
        if not presented:
            request.challenge(_UNSIGNED, "X-Twilio-Signature")
        fields = request.form()
        called = receipts_url(context.public_url, self.name)
        if request.query_string:
            called += "?" + request.query_string
        account = next(iter(fields.get("AccountSid", [])), None)
        signatures = [
            signature(p.secret, url, fields)
            for p in providers
            if p.secret and p.account == account
            for url in _signed_urls(called)
        ]
        request.require(presented, signatures, _UNSIGNED, "X-Twilio-Signature")
        return {name: values[0] for name, values in fields.items() if values}


def signature(auth_token: str, url: str, fields: Mapping[str, list[str]]) -> str:
    """X-Twilio-Signature as Twilio computes it: base64 of the HMAC-SHA1, keyed by the auth
    token, of the URL followed by each field's name and value, sorted by name then value."""
    signed = url + "".join(
        name + value for name in sorted(fields) for value in sorted(set(fields[name]))
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _signed_urls(url: str) -> set[str]:
    """The URL as given, without its port and with the scheme's default one: Twilio's own
    validator takes a signature over either, Twilio having signed both ways."""
    parts = urlsplit(url)
    try:
        given_port = parts.port
    except ValueError:
        return {url}
    host = parts.netloc.rsplit(":", 1)[0] if given_port else parts.netloc
    port = given_port or (443 if parts.scheme == "https" else 80)
    return {
        url,
        urlunsplit(parts._replace(netloc=host)),
        urlunsplit(parts._replace(netloc=f"{host}:{port}")),
    }


SPEC = Twilio()
