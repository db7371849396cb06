"""Vonage, in one place: `vonage://API_KEY:API_SECRET@rest.nexmo.com?from=…`, its SMS API
(plain HTTP, no SDK), its per-message statuses, and its delivery receipts (DLRs), posted to the
callback URL the relay gives it.

https://developer.vonage.com/en/api/sms (the request),
https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms (the statuses),
https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts (the DLR) and
https://api.support.vonage.com/hc/en-us/articles/204014733 (its `err-code` table).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from shared.messaging.sms_segments import Encoding, segments
from shared.secrets.codes import derive_key
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
from shared.verdicts import Judgement, Verdict

# The query parameter of the callback URL the relay gives Vonage that authenticates its DLRs.
RECEIPT_KEY = "key"
_MEDIA = ("application/json", "application/x-www-form-urlencoded")


class Vonage(ReceivingSpec):
    """POSTs `api_key`, `api_secret`, `from` and `to` (numbers as digits, no `+`), `text`,
    `type=unicode` when the text is not GSM-7 and, with PUBLIC_URL, the `callback` its
    receipts come back to; the first part's `message-id` is the provider's id of the message."""

    name = "vonage"
    label = "Vonage"
    schemes = frozenset({"vonage"})
    errors: ClassVar[Mapping[int, Rule]] = {
        1: Rule(Verdict.PROVIDER_DOWN, THROTTLED),
        4: Rule(Verdict.PROVIDER_DOWN, "bad credentials"),
        5: Rule(Verdict.TRANSIENT, "internal error"),
        9: Rule(Verdict.PROVIDER_DOWN, "quota exceeded"),
        29: Rule(Verdict.PERMANENT, "region not allowed"),
    }
    receipts = Receipts(
        id_field="messageId",
        status_field="status",
        code_field="err-code",
        reference_field="client-ref",
        failed=frozenset({"expired", "failed", "rejected"}),
        # 3 absent subscriber - permanent, 4 call barred by user (both "should be removed from
        # your database"), 9 illegal number (the user asked not to receive the service's
        # messages).
        refused=frozenset({"3", "4", "9"}),
        passing=frozenset({"accepted", "buffered", "unknown"}),
        doc=ReceiptDoc(
            operation_id="postVonageDeliveryReceipt",
            summary="A Vonage delivery receipt, at the callback URL the relay gave Vonage (its "
            "`key`) or with\nthe token as for /ses, and the account's api-key; 404 unless SMS_URL "
            "or SMS_FALLBACK_URL is\na Vonage account.",
            body="A Vonage delivery receipt (messageId, status, err-code, api-key…).",
            media=_MEDIA,
        ),
    )

    def parse(self, url: str) -> SmsProvider:
        """`vonage://KEY:SECRET@host?from=SENDER`."""
        account = read_account_url(
            urlsplit(url), "rest.nexmo.com", "API_KEY:API_SECRET", frozenset({"from"})
        )
        if "from" not in account.query:
            raise ValueError("vonage:// needs from=…")
        return SmsProvider(
            self.name,
            account.endpoint,
            account=account.account,
            secret=account.secret,
            sender=checked_sender(account.query["from"]),
        )

    def requests(self, provider: SmsProvider, context: SmsContext) -> Requests:
        """Form fields to /sms/json, the credentials among them."""
        assert provider.account is not None and provider.secret is not None
        url = f"{provider.endpoint}/sms/json"
        fields = {
            "api_key": provider.account,
            "api_secret": provider.secret,
            "from": (provider.sender or "").removeprefix("+"),
        }
        if context.public_url:
            # Authenticated by the key it carries (the newest key's): Vonage posts to it with
            # no credentials.
            fields["callback"] = callback(context.public_url, context.secret_keys[0])

        def request(message: SmsText) -> Outbound:
            form = {**fields, "to": message.to.removeprefix("+"), "text": message.body}
            if segments(message.body).encoding is Encoding.UCS_2:
                # Else Vonage would replace what GSM-7 cannot carry (`ê`).
                form["type"] = "unicode"
            return Outbound(url, form=form)

        return request

    def judge(self, answer: Answer) -> Judgement | None:
        """A 200 whose every part has `status` "0" is accepted, else the first other part's
        status and `error-text`."""
        if answer.status != 200:
            return self.coded(answer.status, None, answer.reason)
        parts = _parts(answer)
        if not parts:
            # The message may have left: tried again, as at-least-once has it.
            return Judgement(Verdict.TRANSIENT, "Vonage answered 200 without messages")
        for part in parts:
            status = str(part.get("status"))
            if status != "0":
                code = int(status) if status.isdigit() else None
                return self.coded(200, code, str(part.get("error-text", "")))
        return None

    def provider_id(self, answer: Answer) -> str | None:
        """The first part's `message-id`."""
        parts = _parts(answer)
        message_id = parts[0].get("message-id") if parts else None
        return message_id if isinstance(message_id, str) else None

    def read_receipt(
        self, request: ReceiptRequest, providers: list[SmsProvider], context: SmsContext
    ) -> Mapping[str, str]:
        """A DLR at the callback URL the relay gave Vonage (its `key`) or with the token as for
        /ses, posted as JSON or as a form, once its `api-key` is a Vonage provider's."""
        key = request.arg(RECEIPT_KEY)
        if key is None:
            request.token()
        else:
            keys = [receipt_key(secret) for secret in context.secret_keys]
            request.require(
                key, keys, "This callback URL's key is not the one the relay gives Vonage.", None
            )
        payload = request.body()
        if not isinstance(payload, dict):
            request.invalid("messageId", "A delivery receipt is an object.")
        fields = {
            k: str(v)
            for k, v in payload.items()
            if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
        }
        request.require(
            fields.get("api-key"),
            [p.account for p in providers],
            "The receipt's api-key is not the API key of the Vonage account in SMS_URL or "
            "SMS_FALLBACK_URL.",
            "Basic",
        )
        return fields


def _parts(answer: Answer) -> list[Mapping[str, Any]]:
    """The answer's `messages`, one per part sent."""
    parts = answer.body.get("messages")
    if not isinstance(parts, list) or not parts:
        return []
    return [part if isinstance(part, dict) else {} for part in parts]


def receipt_key(secret_key: str) -> str:
    """What the callback URL given to Vonage carries to authenticate the DLRs posted to it.

    Vonage posts a DLR to the `callback` of each message as is, with no credentials of ours
    (a per-message callback overrides the dashboard's URL, and with it any Basic credentials
    set there): the URL itself must carry them. A subkey of SECRET_KEY for this use alone: it
    lets its holder post receipts about our Vonage account's messages, and nothing else.
    """
    return hmac.new(derive_key(secret_key, "outpost/vonage-receipts"), b"dlr", "sha256").hexdigest()


def callback(public_url: str, secret_key: str) -> str:
    """The callback URL the relay gives Vonage with each message."""
    return f"{receipts_url(public_url, Vonage.name)}?{RECEIPT_KEY}={receipt_key(secret_key)}"


SPEC = Vonage()
