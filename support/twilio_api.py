"""A real HTTP server for tests standing in for Twilio's Messages API, built to its
published reference: it checks each request as Twilio would and answers Twilio's bodies.

https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
https://www.twilio.com/docs/usage/twilios-response (the error JSON)
"""

from __future__ import annotations

import base64
import re
import uuid
from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest, HttpStandIn

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token"
SENDER = "+15005550006"

# Twilio's error codes the tests script, with the HTTP status and message Twilio answers them
# with (https://www.twilio.com/docs/api/errors/<code>).
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    21211: (400, "Invalid 'To' Phone Number"),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "The 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
}
_FIELDS = {"To", "From", "MessagingServiceSid", "Body", "StatusCallback"}
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class TwilioApi(HttpStandIn):
    """Answers `201` with a message resource (`mode` 201), or the error the script names: a
    Twilio error code (21211…) or a bare HTTP status (500…). A request that breaks the API's
    contract gets Twilio's error for it whatever the script says, and is kept in `problems`."""

    def __init__(
        self, account: str = ACCOUNT_SID, token: str = AUTH_TOKEN, mode: Behaviour = 201
    ) -> None:
        super().__init__(mode)
        self.account = account
        self.token = token
        self.problems: list[str] = []
        self.sent: list[str] = []  # the ids given to the messages accepted, in order

    def sms_url(self, query: str = f"from={SENDER}") -> str:
        """The SMS_URL that points the relay here."""
        return f"twilio://{self.account}:{self.token}@127.0.0.1:{self.port}?{query}"

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The message resource, or Twilio's error JSON."""
        broken = self._check(request)
        if broken is not None:
            self.problems.append(f"{broken}: {request.method} {request.path} {request.body!r}")
            return _error(broken)
        status = behaviour or 201
        if 200 <= status <= 299:
            form = request.form
            sid = "SM" + uuid.uuid4().hex
            self.sent.append(sid)
            return Answer(
                201,
                {
                    "sid": sid,
                    "status": "queued",
                    "to": form["To"],
                    "from": form.get("From"),
                    "body": form["Body"],
                    "account_sid": self.account,
                    "error_code": None,
                },
            )
        if status in ERRORS:
            return _error(status)
        return Answer(
            status,
            {
                "code": None,
                "message": HTTPStatus(status).phrase,
                "more_info": None,
                "status": status,
            },
        )

    def _check(self, request: GatewayRequest) -> int | None:
        """The Twilio error code the request earns by itself, if any."""
        if (request.method, request.path) != (
            "POST",
            f"/2010-04-01/Accounts/{self.account}/Messages.json",
        ):
            return 20404
        credentials = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        if request.header("Authorization") != f"Basic {credentials}":
            return 20003
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        form = request.form if content_type == "application/x-www-form-urlencoded" else {}
        if "To" not in form:
            return 21604
        if not _E164.fullmatch(form["To"]):
            return 21211
        if not form.get("Body"):
            return 21602
        if ("From" in form) == ("MessagingServiceSid" in form) or set(form) - _FIELDS:
            return 21603
        return None


def _error(code: int) -> Answer:
    """Twilio's error JSON for `code`."""
    status, message = ERRORS[code]
    return Answer(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )
