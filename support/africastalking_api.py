"""A real HTTP server for tests standing in for Africa's Talking's SMS API, built to its
published documentation: it checks each request as the documentation describes it and answers
its bodies.

https://developers.africastalking.com/docs/sms/sending/bulk (the request: `POST
/version1/messaging`, form fields `username`, `to`, `message`, optional `from`; headers
`apiKey` and `Accept: application/json`, XML being the default; the answer's
`SMSMessageData.Recipients`, each with its `statusCode`: 100 Processed, 101 Success, 102 Queued,
401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
405 InsufficientBalance, 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection,
500 InternalServerError, 501 GatewayError, 502 RejectedByGateway);
https://help.africastalking.com/en/articles/1036048 (a wrong username or API key: `401` with
the text "The supplied authentication is invalid").
"""

from __future__ import annotations

import uuid
from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest, HttpStandIn

USERNAME = "sandbox"  # what the sandbox application is called, and examples/sms's template says
API_KEY = "atsk_0123456789abcdef"
PATH = "/version1/messaging"
# A recipient's statusCode is scripted as RECIPIENT + code (RECIPIENT + 403): a 201 whose one
# recipient has that code, as Africa's Talking answers a number it refuses. A bare number is
# the HTTP status of the whole answer.
RECIPIENT = 10_000
STATUSES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
_FIELDS = {"username", "to", "message", "from", "bulkSMSMode", "enqueue"}
_TEXT = "text/plain"


class AfricasTalkingApi(HttpStandIn):
    """Answers `201` with one recipient of statusCode 101 (`mode` 201), or what the script
    names. A request the documentation does not describe is kept in `problems`, and gets the
    answer it would (401 for a wrong key, 400 for a missing field) whatever the script says."""

    def __init__(self, api_key: str = API_KEY, mode: Behaviour = 201) -> None:
        super().__init__(mode)
        self.api_key = api_key
        self.problems: list[str] = []
        self.sent: list[str] = []  # the messageIds given to the messages accepted, in order

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The SMSMessageData of one recipient, or the error the request or script earns."""
        broken = self._check(request)
        if broken is not None:
            self.problems.append(f"{broken.body}: {request.method} {request.path}")
            return broken
        status = behaviour or 201
        if status >= RECIPIENT:
            return self._sent(request, status - RECIPIENT)
        if 200 <= status <= 299:
            return self._sent(request, 101)
        return Answer(status, HTTPStatus(status).phrase, _TEXT)

    def _sent(self, request: GatewayRequest, code: int) -> Answer:
        """A 201: the request was taken, and its recipient has `code`."""
        accepted = code in (100, 101, 102)
        message_id = f"ATXid_{uuid.uuid4().hex}" if accepted else "None"
        if accepted:
            self.sent.append(message_id)
        recipient = {
            "statusCode": code,
            "number": request.form["to"],
            "status": STATUSES[code],
            "cost": "KES 0.8000" if accepted else "0",
            "messageId": message_id,
        }
        summary = f"Sent to {int(accepted)}/1 Total Cost: {recipient['cost']}"
        return Answer(201, {"SMSMessageData": {"Message": summary, "Recipients": [recipient]}})

    def _check(self, request: GatewayRequest) -> Answer | None:
        """The answer the request earns by itself, if any."""
        if (request.method, request.path) != ("POST", PATH):
            return Answer(404, "Not Found", _TEXT)
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        form = request.form if content_type == "application/x-www-form-urlencoded" else {}
        if request.header("apiKey") != self.api_key or form.get("username") != USERNAME:
            return Answer(401, "The supplied authentication is invalid", _TEXT)
        if request.header("Accept") != "application/json":
            # Africa's Talking would answer XML: kept as a problem, answered as JSON still.
            self.problems.append(f"Accept is not application/json: {request.header('Accept')}")
        if set(form) - _FIELDS:
            self.problems.append(f"fields the API does not take: {sorted(set(form) - _FIELDS)}")
        missing = sorted({"to", "message"} - {k for k, v in form.items() if v})
        if missing:
            return Answer(400, f"Request is missing required form field '{missing[0]}'", _TEXT)
        return None
