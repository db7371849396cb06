"""A real HTTP server for tests standing in for Amazon SES's v2 SendEmail with raw content,
built to its published reference: it verifies each request's Signature Version 4 (recomputed
with the secret key), checks the request as SES would and answers SES's bodies.

https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html (the request, the
errors), https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html,
https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_GetAccount.html (GET /v2/email/account).
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.http_stand_in import Answer, Behaviour, GatewayRequest
from support.mail_stand_in import MailStandIn

KEY_ID = "AKIAOUTPOSTEXAMPLE01"
SECRET = "ses-secret-access-key+0123456789"
REGION = "eu-west-1"

# SES's errors the tests script, by type, with the status and message SES answers them with.
ERRORS = {
    "AccountSuspendedException": (400, "Account is suspended."),
    "SendingPausedException": (400, "Sending is paused for this account."),
    "MailFromDomainNotVerifiedException": (400, "The MAIL FROM domain is not verified."),
    "NotFoundException": (404, "Configuration set does not exist."),
    "UnrecognizedClientException": (403, "The security token included in the request is invalid."),
    "InvalidSignatureException": (
        403,
        "The request signature we calculated does not match the signature you provided.",
    ),
    "AccessDeniedException": (403, "User is not authorized to perform ses:SendEmail."),
    "MessageRejected": (400, "Email address is not verified."),
    "BadRequestException": (400, "Raw message data is not valid."),
    "TooManyRequestsException": (429, "Too many requests."),
    "LimitExceededException": (400, "Maximum sending rate exceeded."),
}
_TYPES = list(ERRORS)
_FIRST = 1000


def behaviour(kind: str) -> int:
    """The script that makes the stand-in answer error `kind`."""
    return _FIRST + _TYPES.index(kind)


class SesApi(MailStandIn):
    """Answers `200` with `{"MessageId"}`, or the error the script names (`behaviour(type)`,
    or a bare HTTP status). SES refuses no recipient when it is asked: its bounces come later,
    as reports."""

    def __init__(self, key: str = SECRET, mode: Behaviour = 0) -> None:
        super().__init__(key, mode)

    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""
        secret = quote(key or self.key, safe="")
        return f"ses://{KEY_ID}:{secret}@127.0.0.1:{self.port}?region={REGION}"

    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """An unknown key id, a wrong signature, a broken request: SES's error for each."""
        presented = request.header("Authorization") or ""
        if f"Credential={KEY_ID}/" not in presented:
            return behaviour("UnrecognizedClientException")
        if not self._signature_holds(request, presented):
            return behaviour("InvalidSignatureException")
        if request.method == "GET":
            wanted = "/v2/email/account"
            return None if request.path == wanted else self.broken(request, "no read", 404)
        body = request.json
        if request.path != "/v2/email/outbound-emails" or not isinstance(body, dict):
            return self.broken(request, "not JSON to SendEmail", behaviour("BadRequestException"))
        try:
            raw = base64.b64decode(body["Content"]["Raw"]["Data"], validate=True)
            to = body["Destination"]["ToAddresses"]
        except (KeyError, TypeError, binascii.Error):
            return self.broken(request, "raw content", behaviour("BadRequestException"))
        if not (raw and to and body.get("FromEmailAddress")):
            return self.broken(request, "incomplete", behaviour("BadRequestException"))
        return None

    def _signature_holds(self, request: GatewayRequest, presented: str) -> bool:
        """Whether the signature is the one the secret key gives over this request."""
        signed = {"Content-Type": request.header("Content-Type") or ""}
        signed["X-Amz-Date"] = request.header("X-Amz-Date") or ""
        url = f"http://127.0.0.1:{self.port}{request.path}"
        again = AWSRequest(request.method, url, data=request.body, headers=signed)
        again.context["timestamp"] = signed["X-Amz-Date"]
        signer = SigV4Auth(Credentials(KEY_ID, self.key), "ses", REGION)
        signature = signer.signature(
            signer.string_to_sign(again, signer.canonical_request(again)), again
        )
        return presented.endswith(f"Signature={signature}")

    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """The message's id (or the account)."""
        if request.method == "GET":
            return Answer(200, {"SendingEnabled": True, "ProductionAccessEnabled": True})
        return Answer(200, {"MessageId": given})

    def new_id(self) -> str:
        """A message id as SES gives one."""
        return f"0102{super().new_id()}-000000"

    def failed(self, request: GatewayRequest, scripted: int) -> Answer:
        """SES's error: the type in X-Amzn-ErrorType, `{"message"}` in the body."""
        if scripted < _FIRST:
            return Answer(scripted, {"message": HTTPStatus(scripted).phrase})
        kind = _TYPES[scripted - _FIRST]
        status, message = ERRORS[kind]
        header = (("X-Amzn-ErrorType", f"{kind}:http://internal.amazon.com/coral/"),)
        return Answer(status, {"message": message}, headers=header)
