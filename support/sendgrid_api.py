"""A real HTTP server for tests standing in for SendGrid's v3 Mail Send API, built to its
published reference: it checks each request as SendGrid would and answers SendGrid's bodies.

https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send (`202`, X-Message-Id),
https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors
(`{"errors": [{"field", "message"}]}`), GET /v3/scopes (the key's permissions).
"""

from __future__ import annotations

from http import HTTPStatus

from shared.mail_providers.sendgrid import RECIPIENT_FIELD
from support.http_stand_in import Answer, Behaviour, GatewayRequest
from support.mail_stand_in import REFUSED, MailStandIn

KEY = "SG.sendgrid-api-key.0123456789"
# A scripted 400 naming the recipient's field: SendGrid's refusal of an address.
RECIPIENT_REFUSED = 4001

# SendGrid's answers by status, with the error message it documents for each.
MESSAGES = {
    400: ("", "Bad Request"),
    RECIPIENT_REFUSED: (RECIPIENT_FIELD, "Does not contain a valid address."),
    401: ("", "The provided authorization grant is invalid, expired, or revoked"),
    403: ("from", "The from address does not match a verified Sender Identity."),
    413: ("", "The JSON payload you have included in your request is too large."),
    429: ("", "too many requests"),
    500: ("", "Internal server error"),
}


class SendGridApi(MailStandIn):
    """Answers `202` with an X-Message-Id header and no body, or the error the script names: an
    HTTP status (RECIPIENT_REFUSED: a 400 naming the recipient)."""

    def __init__(self, key: str = KEY, mode: Behaviour = 0) -> None:
        super().__init__(key, mode)

    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""
        return f"sendgrid://{key or self.key}@127.0.0.1:{self.port}"

    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """A wrong key is 401; a request that breaks the contract 400; REFUSED a 400 naming
        the recipient."""
        if request.header("Authorization") != f"Bearer {self.key}":
            return 401
        if request.method == "GET":
            return None if request.path == "/v3/scopes" else self.broken(request, "no read", 400)
        body = request.json
        if (request.method, request.path) != ("POST", "/v3/mail/send") or not isinstance(
            body, dict
        ):
            return self.broken(request, "not JSON to POST /v3/mail/send", 400)
        try:
            to = body["personalizations"][0]["to"][0]["email"]
            values = [part["value"] for part in body["content"]]
            sender = body["from"]["email"]
        except (KeyError, IndexError, TypeError):
            return self.broken(request, "personalizations, from and content are required", 400)
        if not (values and sender and body.get("subject")):
            return self.broken(request, "a subject and content are required", 400)
        return RECIPIENT_REFUSED if to == REFUSED else None

    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """`202`, the id in X-Message-Id (or, for GET /v3/scopes, the scopes)."""
        if request.method == "GET":
            return Answer(200, {"scopes": ["mail.send"]})
        return Answer(202, "", media="text/plain", headers=(("X-Message-Id", given),))

    def failed(self, request: GatewayRequest, behaviour: int) -> Answer:
        """SendGrid's error JSON."""
        return Answer(*error(behaviour))


def error(behaviour: int) -> tuple[int, object]:
    """The HTTP status and JSON SendGrid answers with (RECIPIENT_REFUSED: a 400)."""
    status = 400 if behaviour == RECIPIENT_REFUSED else behaviour
    field, message = MESSAGES.get(behaviour, ("", HTTPStatus(status).phrase))
    return status, {"errors": [{"field": field or None, "message": message, "help": None}]}
