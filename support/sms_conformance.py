"""One case per SMS provider of the registry (shared/sms_providers/registry.py): all that
tests/relay/test_sms_conformance.py needs to know of it, as a River driver is all riverdrivertest
needs. A new provider adds its case here and gets the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from http import HTTPStatus
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

from shared.sms_providers.spec import Answer, Outbound, SmsProvider
from support import twilio_api, vonage_api
from support.receipt_requests import ARRIVING_AT, Post
from support.sms_case import (
    MESSAGE,
    Case,
    Receipt,
    ReceiptCase,
    Sent,
    form_of,
    json_answer,
    same,
)

# Twilio: HTTP Basic, a form; its error JSON; status callbacks signed by its own validator.
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "hunter2-twilio-auth-token"
_SERVICE = "MG" + "f" * 32


def _twilio_error(code: int) -> Answer:
    """Twilio's error JSON for `code`, at the HTTP status Twilio answers it with."""
    status, message = twilio_api.ERRORS[code]
    return _twilio_json(status, code, message, f"https://www.twilio.com/docs/errors/{code}")


def _twilio_failed(status: int) -> Answer:
    """Twilio's error JSON for a bare HTTP status."""
    return _twilio_json(status, None, HTTPStatus(status).phrase, None)


def _twilio_json(status: int, code: int | None, message: str, info: str | None) -> Answer:
    """Twilio's error JSON (https://www.twilio.com/docs/usage/twilios-response)."""
    body = {"code": code, "message": message, "more_info": info, "status": status}
    return json_answer(status, body)


def _twilio_receipt(
    receipt: Receipt,
    *,
    token: str | None = None,
    account: str | None = None,
    over: str | None = None,
    posted: Mapping[str, str] | None = None,
    signed: bool = True,
) -> Post:
    """A status callback to the sent StatusCallback, signed by RequestValidator with `token`
    (the provider's auth token) over `over` (that URL); `posted`: fields changed after."""
    callback = form_of(receipt.sent)["StatusCallback"]
    fields = {
        "AccountSid": account or receipt.provider.account or "",
        "MessageSid": receipt.message_id,
        "SmsSid": receipt.message_id,
        "MessageStatus": receipt.status,
        "SmsStatus": receipt.status,
        "ErrorCode": receipt.code,
        "To": MESSAGE.to,
        "From": receipt.provider.sender or "",
        "ApiVersion": "2010-04-01",
    }
    validator = RequestValidator(token or receipt.provider.secret or "")
    signature = validator.compute_signature(over or callback, fields)
    headers = {"X-Twilio-Signature": signature} if signed else {}
    return Post(callback, headers, form={**fields, **(posted or {})})


TWILIO = Case(
    url=f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com?from=%2B15005550006",
    parsed=SmsProvider(
        "twilio", "https://api.twilio.com", TWILIO_SID, TWILIO_TOKEN, sender="+15005550006"
    ),
    secret=TWILIO_TOKEN,
    bad_urls=(
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@?from=%2B15005550006",
        f"twilio://{TWILIO_TOKEN}@api.twilio.com?from=%2B15005550006",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}/x@api.twilio.com?from=%2B15005550006",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com:https?from=%2B15005550006",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com?from=%2B15005550006&x=1",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com?from=a%20very%20long%20name",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com?from=%2B15005550006"
        f"&messaging_service_sid={_SERVICE}",
        f"twilio://{TWILIO_SID}:{TWILIO_TOKEN}@api.twilio.com?messaging_service_sid=MG1",
    ),
    endpoint=f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
    number=same,
    read=lambda outbound: Sent(form_of(outbound)["To"], form_of(outbound)["Body"]),
    # Twilio's Messages API takes no idempotency key nor reference of ours.
    references=False,
    success=json_answer(201, {"sid": "SM" + "fedcba9876543210" * 2, "status": "queued"}),
    provider_id="SM" + "fedcba9876543210" * 2,
    failed=_twilio_failed,
    coded=_twilio_error,
    unknown_code=21602,
    receipt=ReceiptCase(
        genuine=_twilio_receipt,
        forged={
            "wrong-token": partial(_twilio_receipt, token="not-the-auth-token"),
            "other-account": partial(_twilio_receipt, account="AC" + "9" * 32),
            "unsigned": partial(_twilio_receipt, signed=False),
            "signed-over-the-host-called": partial(
                _twilio_receipt, over=f"{ARRIVING_AT}/v1/provider-events/twilio"
            ),
            "changed-after-signing": partial(_twilio_receipt, posted={"ErrorCode": "30005"}),
        },
    ),
)


# Vonage: the credentials in the form; a 200 whose part carries the status; DLRs at the
# callback URL it is given.
VONAGE_KEY = "a1b2c3d4"
VONAGE_SECRET = "hunter2-vonage-secret"


def _vonage_status(code: int) -> Answer:
    """Vonage's 200 whose one part has status `code` and its documented error-text."""
    part = {"status": str(code), "error-text": vonage_api.ERRORS[code]}
    return json_answer(200, {"message-count": "1", "messages": [part]})


def _vonage_receipt(
    receipt: Receipt,
    *,
    url: Callable[[str], str] = same,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Post:
    """A DLR posted as a form to the sent callback URL (`url` changes it), naming the
    provider's api-key (or `api_key`)."""
    fields = {
        "msisdn": MESSAGE.to.removeprefix("+"),
        "to": receipt.provider.sender or "",
        "network-code": "62401",
        "messageId": receipt.message_id,
        "price": "0.03330000",
        "status": receipt.status,
        "scts": "2611231910",
        "err-code": receipt.code or "0",
        "api-key": api_key or receipt.provider.account or "",
        "message-timestamp": "2026-11-23 19:10:29",
    }
    return Post(url(form_of(receipt.sent)["callback"]), headers or {}, form=fields)


VONAGE = Case(
    url=f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@rest.nexmo.com?from=Outpost",
    parsed=SmsProvider("vonage", "https://rest.nexmo.com", VONAGE_KEY, VONAGE_SECRET, "Outpost"),
    secret=VONAGE_SECRET,
    bad_urls=(
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@rest.nexmo.com",
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@?from=Outpost",
        f"vonage://{VONAGE_SECRET}@rest.nexmo.com?from=Outpost",
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}/x@rest.nexmo.com?from=Outpost",
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@rest.nexmo.com:0?from=Outpost",
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@rest.nexmo.com?from=Outpost&callback=x",
        f"vonage://{VONAGE_KEY}:{VONAGE_SECRET}@rest.nexmo.com?from=Outpost%20Kenya%20Ltd",
    ),
    endpoint="https://rest.nexmo.com/sms/json",
    number=lambda number: number.removeprefix("+"),
    read=lambda outbound: Sent(
        form_of(outbound)["to"],
        form_of(outbound)["text"],
        tuple(filter(None, [form_of(outbound).get("client-ref")])),
    ),
    # Vonage takes a `client-ref`, and its DLRs echo it; Outpost sends none.
    references=False,
    success=json_answer(
        200,
        {
            "message-count": "1",
            "messages": [{"to": "237670123456", "message-id": "0B00000127FDBC63", "status": "0"}],
        },
    ),
    provider_id="0B00000127FDBC63",
    failed=lambda status: json_answer(status, {"error": HTTPStatus(status).phrase}),
    # Vonage authenticates the request by the credentials in its body.
    body_secrets=(VONAGE_SECRET,),
    coded=_vonage_status,
    unknown_code=3,
    receipt=ReceiptCase(
        genuine=_vonage_receipt,
        forged={
            "wrong-key": partial(_vonage_receipt, url=lambda u: u.replace("key=", "key=0")),
            "other-account": partial(_vonage_receipt, api_key="ffffffff"),
            "no-key": partial(_vonage_receipt, url=lambda u: u.partition("?")[0]),
            "no-key-wrong-token": partial(
                _vonage_receipt,
                url=lambda u: u.partition("?")[0],
                headers={"Authorization": "Bearer not-the-token"},
            ),
        },
    ),
)


# The gateway contract: JSON `{id, to, body}`, the id also its Idempotency-Key.
GATEWAY_SECRET = "hunter2-gateway-password"


def _gateway_sent(outbound: Outbound) -> Sent:
    """The JSON's `to` and `body`; its `id` and the Idempotency-Key header."""
    references = (outbound.json["id"], outbound.headers.get("Idempotency-Key", ""))
    return Sent(outbound.json["to"], outbound.json["body"], references)


def _gateway_bad_urls(host: str, path: str) -> tuple[str, ...]:
    """URLs of a gateway on `host` that no gateway spec takes: clear text beyond loopback, no
    host, a port that is not one (a password's unencoded `/` leaves part of it as the port)."""
    credentials = f"outpost:{GATEWAY_SECRET}"
    return (
        f"http://{credentials}@{host}{path}",
        f"https://{credentials}@{path}",
        f"https://{credentials}/x@{host}{path}",
        f"https://{credentials}@{host}:https{path}",
        f"https://{credentials}@{host}:99999{path}",
    )


def _failed_text(status: int) -> Answer:
    """A bare HTTP status, its phrase the body."""
    phrase = HTTPStatus(status).phrase
    return Answer(status, phrase, phrase.encode())


_GATEWAY_URL = f"https://outpost:{GATEWAY_SECRET}@sms.example.com/send"
GATEWAY = Case(
    url=_GATEWAY_URL,
    parsed=SmsProvider("gateway", _GATEWAY_URL),
    secret=GATEWAY_SECRET,
    bad_urls=_gateway_bad_urls("sms.example.com", "/send"),
    endpoint=_GATEWAY_URL,
    number=same,
    read=_gateway_sent,
    references=True,
    success=json_answer(202, {"status": "queued"}),
    provider_id=None,
    failed=lambda status: json_answer(status, {"error": HTTPStatus(status).phrase}),
)


# A gateway of its own API through SMS_REQUEST_TEMPLATE: Africa's Talking, docs/sms.md's
# example, with examples/sms/africastalking.form.
def _template_sent(outbound: Outbound) -> Sent:
    form = parse_qs((outbound.content or b"").decode(), strict_parsing=True)
    return Sent(form["to"][0], form["message"][0])


_TEMPLATE_URL = f"https://outpost:{GATEWAY_SECRET}@api.africastalking.com/version1/messaging"
_AT_RECIPIENT = {"statusCode": 101, "number": MESSAGE.to, "status": "Success", "cost": "KES 0.8"}
TEMPLATE = Case(
    url=_TEMPLATE_URL,
    parsed=SmsProvider("template", _TEMPLATE_URL),
    secret=GATEWAY_SECRET,
    bad_urls=_gateway_bad_urls("api.africastalking.com", "/version1/messaging"),
    endpoint=_TEMPLATE_URL,
    number=same,
    read=_template_sent,
    # The example template sends no id (Africa's Talking takes none).
    references=False,
    success=json_answer(
        201, {"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [_AT_RECIPIENT]}}
    ),
    provider_id=None,
    failed=_failed_text,
)

CASES: Mapping[str, Case] = {
    "twilio": TWILIO,
    "vonage": VONAGE,
    "gateway": GATEWAY,
    "template": TEMPLATE,
}
