"""A real HTTP server for tests standing in for Postmark's Email API, built to its published
reference: it checks each request as Postmark would and answers Postmark's bodies.

https://postmarkapp.com/developer/api/email-api (POST /email and its answer),
https://postmarkapp.com/developer/api/overview#error-codes (`ErrorCode` and `Message`),
https://postmarkapp.com/developer/api/server-api (GET /server).
"""

from __future__ import annotations

from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest
from support.mail_stand_in import REFUSED, MailStandIn

TOKEN = "postmark-server-token-0123"

# Postmark's error codes the tests script, with the HTTP status and message it answers them with.
ERRORS = {
    10: (
        401,
        "The Server Token you provided in the X-Postmark-Server-Token request header was "
        "invalid. Please verify that you are using a valid token.",
    ),
    100: (503, "Postmark is offline for maintenance."),
    300: (422, "Invalid email request: Error parsing 'To'."),
    400: (422, "The 'From' address you supplied is not a Sender Signature on your account."),
    401: (422, "The 'From' address has not been confirmed."),
    405: (422, "You have run out of credits."),
    406: (
        422,
        "You tried to send to recipient(s) that have been marked as inactive. Found "
        "inactive addresses: refused@example.com. Inactive recipients are ones that have "
        "generated a hard bounce, a spam complaint, or a manual suppression.",
    ),
    409: (422, "JSON required."),
    412: (422, "Your account is pending approval."),
    413: (422, "This account may not send."),
    429: (429, "Rate limit exceeded."),
}
_REQUIRED = ("From", "To", "Subject")


class PostmarkApi(MailStandIn):
    """Answers `200` with Postmark's send result, or the error the script names: a Postmark
    error code (406…) or a bare HTTP status (500…)."""

    def __init__(self, token: str = TOKEN, mode: Behaviour = 0) -> None:
        super().__init__(token, mode)

    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""
        return f"postmark://{key or self.key}@127.0.0.1:{self.port}"

    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """A wrong token is 10; a request not JSON 409; one without From, To or Subject or a
        body 300; REFUSED an inactive recipient, 406."""
        if request.header("X-Postmark-Server-Token") != self.key:
            return 10
        if request.method == "GET":
            return None if request.path == "/server" else self.broken(request, "no such read", 300)
        body = request.json
        if (request.method, request.path) != ("POST", "/email") or not isinstance(body, dict):
            return self.broken(request, "not JSON to POST /email", 409)
        if any(not body.get(name) for name in _REQUIRED) or not (
            body.get("TextBody") or body.get("HtmlBody")
        ):
            return self.broken(request, "From, To, Subject and a body are required", 300)
        return 406 if body["To"] == REFUSED else None

    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """The send result (or, for GET /server, the server)."""
        if request.method == "GET":
            return Answer(200, {"ID": 1, "Name": "Outpost", "DeliveryType": "Live"})
        body = request.json
        return Answer(
            200,
            {
                "To": body["To"],
                "SubmittedAt": "2026-11-28T13:00:00.0000000-05:00",
                "MessageID": given,
                "ErrorCode": 0,
                "Message": "OK",
            },
        )

    def failed(self, request: GatewayRequest, behaviour: int) -> Answer:
        """Postmark's error JSON for a code, or a bare status's."""
        if behaviour in ERRORS:
            return Answer(*error(behaviour))
        return Answer(behaviour, HTTPStatus(behaviour).phrase, media="text/plain")


def error(code: int) -> tuple[int, dict[str, object]]:
    """The HTTP status and JSON Postmark answers error `code` with."""
    status, message = ERRORS[code]
    return status, {"ErrorCode": code, "Message": message}
