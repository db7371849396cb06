"""Amazon SES, in one place: `ses://ACCESS_KEY_ID:SECRET_ACCESS_KEY@email.REGION.amazonaws.com`,
its v2 SendEmail with raw content, each request signed with Signature Version 4 by botocore's
signer (botocore signs, and does nothing else: no SDK call path), its errors, and the read
`outpost check` makes.

https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html (the request,
`{"MessageId"}`, the errors), https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html,
https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_GetAccount.html (the read),
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (the signature).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import ClassVar

from shared.accounts.addresses import Sender
from shared.mail_providers.spec import (
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
from shared.verdicts import Verdict

_AWS_HOST = re.compile(r"email\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_SEND = "/v2/email/outbound-emails"
_BAD_CREDENTIALS = "bad credentials"


class Ses(ApiSpec):
    """POSTs `{"FromEmailAddress", "Destination", "Content": {"Raw": {"Data"}}}` (the raw bytes
    in base64) to /v2/email/outbound-emails, signed for service `ses` in the host's region;
    the answer's `MessageId` is the provider's id. An error names its type in the
    X-Amzn-ErrorType header (or the body's `__type`)."""

    name = "ses"
    label = "SES"
    schemes = frozenset({"ses"})
    errors: ClassVar[Mapping[str, Rule]] = {
        "AccountSuspendedException": Rule(Verdict.PROVIDER_DOWN, "account suspended"),
        "SendingPausedException": Rule(Verdict.PROVIDER_DOWN, "sending paused"),
        "MailFromDomainNotVerifiedException": Rule(Verdict.PROVIDER_DOWN, "domain not verified"),
        "NotFoundException": Rule(Verdict.PROVIDER_DOWN, "configuration not found"),
        "UnrecognizedClientException": Rule(Verdict.PROVIDER_DOWN, _BAD_CREDENTIALS),
        "InvalidSignatureException": Rule(Verdict.PROVIDER_DOWN, _BAD_CREDENTIALS),
        "AccessDeniedException": Rule(Verdict.PROVIDER_DOWN, "access denied"),
        "MessageRejected": Rule(Verdict.PERMANENT, "message rejected"),
        "BadRequestException": Rule(Verdict.PERMANENT, "bad request"),
        "TooManyRequestsException": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
        # The account's sending quota or rate.
        "LimitExceededException": Rule(Verdict.PROVIDER_DOWN, THROTTLED),
    }

    def parse(self, url: str) -> MailApi:
        """`ses://ID:SECRET@email.REGION.amazonaws.com`; another host (a stand-in, an
        endpoint of a VPC) names its region as `?region=`."""
        example = "ses://ACCESS_KEY_ID:SECRET_ACCESS_KEY@email.eu-west-1.amazonaws.com"
        read = read_key_url(url, example, frozenset({"region"}))
        if read.account is None or read.path:
            raise ValueError(
                f"ses:// takes ACCESS_KEY_ID:SECRET_ACCESS_KEY before the host, {example}"
            )
        aws = _AWS_HOST.fullmatch(read.host)
        region = aws.group(1) if aws else read.query.get("region", "")
        if not _REGION.fullmatch(region):
            raise ValueError("ses:// needs the region: email.REGION.amazonaws.com, or ?region=")
        return MailApi(self.name, read.endpoint, read.key, account=read.account, region=region)

    def requests(self, provider: MailApi, mail_from: Sender) -> Requests:
        """The signed JSON of one mail to SendEmail."""
        url = f"{provider.endpoint}{_SEND}"

        def request(mail: MailText) -> Outbound:
            body = {
                "FromEmailAddress": mail_from.address,
                "Destination": {"ToAddresses": [mail.recipient]},
                "Content": {"Raw": {"Data": base64.b64encode(mail.data).decode("ascii")}},
            }
            content = json.dumps(body, separators=(",", ":")).encode()
            return Outbound(url, content=content, headers=signed(provider, "POST", url, content))

        return request

    def check(self, provider: MailApi) -> Outbound:
        """GET /v2/email/account (GetAccount): the account's sending status and quota."""
        url = f"{provider.endpoint}/v2/email/account"
        return Outbound(url, headers=signed(provider, "GET", url, b""))

    def code_of(self, answer: Answer) -> tuple[str | None, str]:
        """The error type (X-Amzn-ErrorType, before any `:`; else the body's `__type`, after
        any `#`) and its message."""
        kind = answer.headers.get("x-amzn-errortype", "").partition(":")[0]
        if not kind and isinstance(answer.body.get("__type"), str):
            kind = answer.body["__type"].rpartition("#")[2]
        return (kind or None), text_of(answer, "message", "Message")

    def provider_id(self, answer: Answer) -> str | None:
        """The answer's `MessageId`."""
        found = answer.body.get("MessageId")
        return found if isinstance(found, str) else None


def signed(provider: MailApi, method: str, url: str, body: bytes) -> dict[str, str]:
    """The headers of a request signed with Signature Version 4 for `ses` in the provider's
    region, by botocore's signer: Content-Type, X-Amz-Date and Authorization. botocore is
    loaded here, by the relay that sends through SES alone: 0.14 s of every start otherwise."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    assert provider.account is not None and provider.region is not None
    request = AWSRequest(method, url, data=body, headers={"Content-Type": "application/json"})
    credentials = Credentials(provider.account, provider.key)
    SigV4Auth(credentials, "ses", provider.region).add_auth(request)
    return dict(request.headers.items())


SPEC = Ses()
