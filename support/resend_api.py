"""A real HTTP server for tests standing in for Resend's Send Email API, built to its published
reference: it checks each request as Resend would and answers Resend's bodies.

https://resend.com/docs/api-reference/emails/send-email (POST /emails, `{"id"}`),
https://resend.com/docs/api-reference/errors (`{"statusCode", "name", "message"}`),
https://resend.com/docs/api-reference/domains/list-domains (GET /domains).
"""

from __future__ import annotations

from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest
from support.mail_stand_in import REFUSED, MailStandIn

KEY = "re_resend_api_key_0123456789"

# Resend's errors the tests script, by the code Outpost reads (its `name`, with the status where
# one name has several meanings), with the status and message Resend answers them with.
ERRORS = {
    "invalid_to": (
        422,
        "validation_error",
        "Invalid `to` field. The email address needs to "
        "follow the `email@example.com` or `Name <email@example.com>` format.",
    ),
    "validation_error": (422, "validation_error", "The `subject` field is required."),
    "validation_error 401": (401, "validation_error", "API key is invalid"),
    "validation_error 403": (
        403,
        "validation_error",
        "You can only send testing emails to your own email address.",
    ),
    "missing_api_key": (401, "missing_api_key", "Missing API key in the authorization header."),
    "invalid_api_key": (403, "invalid_api_key", "API key is invalid."),
    "restricted_api_key": (
        401,
        "restricted_api_key",
        "This API key is restricted to only send emails.",
    ),
    "invalid_from_address": (422, "invalid_from_address", "Invalid `from` field."),
    "invalid_access": (422, "invalid_access", "Access must be 'full_access' or 'sending_access'."),
    "daily_quota_exceeded": (
        429,
        "daily_quota_exceeded",
        "You have reached your daily email sending quota.",
    ),
    "monthly_quota_exceeded": (
        429,
        "monthly_quota_exceeded",
        "You have reached your monthly email sending quota.",
    ),
    "rate_limit_exceeded": (
        429,
        "rate_limit_exceeded",
        "Too many requests. You can only make 2 requests per second.",
    ),
}
_NAMES = list(ERRORS)
# Scripted errors are numbered from here (below it, a bare HTTP status).
_FIRST = 1000


def behaviour(code: str) -> int:
    """The script that makes the stand-in answer error `code`."""
    return _FIRST + _NAMES.index(code)


class ResendApi(MailStandIn):
    """Answers `200` with `{"id"}`, or the error the script names (`behaviour(code)`, or a bare
    HTTP status); the same Idempotency-Key twice gets the first id back."""

    def __init__(self, key: str = KEY, mode: Behaviour = 0) -> None:
        super().__init__(key, mode)
        self._keys: dict[str, str] = {}
        self.retry_after = 1  # the seconds a 429's retry-after header asks for

    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""
        return f"resend://{key or self.key}@127.0.0.1:{self.port}"

    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """No key, a wrong key, a broken request, REFUSED: Resend's error for each."""
        presented = request.header("Authorization")
        if presented is None:
            return behaviour("missing_api_key")
        if presented != f"Bearer {self.key}":
            return behaviour("validation_error 401")
        if request.method == "GET":
            return None if request.path == "/domains" else self.broken(request, "no read", 404)
        body = request.json
        if (request.method, request.path) != ("POST", "/emails") or not isinstance(body, dict):
            return self.broken(request, "not JSON to POST /emails", behaviour("validation_error"))
        if not (body.get("from") and body.get("to") and body.get("subject")) or not (
            body.get("text") or body.get("html")
        ):
            return self.broken(
                request, "from, to, subject and a body", behaviour("validation_error")
            )
        return behaviour("invalid_to") if body["to"] == [REFUSED] else None

    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """The email's id (the first one given under its Idempotency-Key), or the domains."""
        if request.method == "GET":
            return Answer(200, {"object": "list", "data": []})
        idempotency = request.header("Idempotency-Key") or given
        return Answer(200, {"id": self._keys.setdefault(idempotency, given)})

    def failed(self, request: GatewayRequest, scripted: int) -> Answer:
        """Resend's error JSON."""
        if scripted >= _FIRST:
            status, name, message = ERRORS[_NAMES[scripted - _FIRST]]
        else:
            status, name, message = scripted, "application_error", HTTPStatus(scripted).phrase
        body = {"statusCode": status, "name": name, "message": message}
        waits = (("retry-after", str(self.retry_after)),) if status == 429 else ()
        return Answer(status, body, headers=waits)
