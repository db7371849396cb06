"""A real HTTP server for tests standing in for Mailgun's MIME send API, built to its published
reference: it checks each request as Mailgun would and answers Mailgun's bodies.

https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
(POST /v3/{domain}/messages.mime: `to`, the `message` file; `{"id", "message"}`),
https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses (the statuses).
"""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest
from support.mail_stand_in import REFUSED, MailStandIn

KEY = "mailgun-api-key-0123456789"
DOMAIN = "mg.example.com"
# A scripted 400 about the recipient: Mailgun's refusal of an address.
RECIPIENT_REFUSED = 4001
_MESSAGES = {
    RECIPIENT_REFUSED: "'to' parameter is not a valid address. please check documentation",
    400: "'message' parameter is not a valid MIME message",
    404: "Domain not found: mg.example.com",
    429: "Too many requests",
}


def fields(request: GatewayRequest) -> dict[str, bytes]:
    """The multipart form's fields by name, each value's bytes."""
    head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
    form = message_from_bytes(head + request.body, policy=policy.HTTP)
    read: dict[str, bytes] = {}
    for part in form.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            read[name] = payload
        else:  # a message/rfc822 part: the mail it holds, as bytes
            [mail] = part.iter_parts()
            read[name] = mail.as_bytes()
    return read


class MailgunApi(MailStandIn):
    """Answers `200` with `{"id", "message"}`, or the error the script names (a status;
    RECIPIENT_REFUSED: a 400 about `to`)."""

    def __init__(self, key: str = KEY, mode: Behaviour = 0) -> None:
        super().__init__(key, mode)

    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""
        return f"mailgun://{key or self.key}@127.0.0.1:{self.port}/{DOMAIN}"

    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """A wrong key is 401; a broken form 400; REFUSED a 400 about `to`."""
        basic = base64.b64encode(f"api:{self.key}".encode()).decode()
        if request.header("Authorization") != f"Basic {basic}":
            return 401
        if request.method == "GET":
            wanted = f"/v3/domains/{DOMAIN}"
            return None if request.path == wanted else self.broken(request, "no read", 404)
        if (request.method, request.path) != ("POST", f"/v3/{DOMAIN}/messages.mime"):
            return self.broken(request, "not POST /v3/DOMAIN/messages.mime", 404)
        form = fields(request)
        if not form.get("to") or not form.get("message", b"").strip():
            return self.broken(request, "to and message are required", 400)
        return RECIPIENT_REFUSED if form["to"] == REFUSED.encode() else None

    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """The queued message's id (or the domain)."""
        if request.method == "GET":
            return Answer(200, {"domain": {"name": DOMAIN, "state": "active"}})
        return Answer(200, {"id": given, "message": "Queued. Thank you."})

    def new_id(self) -> str:
        """A Message-ID at the domain in angle brackets, as Mailgun gives one."""
        return f"<{super().new_id()}@{DOMAIN}>"

    def failed(self, request: GatewayRequest, scripted: int) -> Answer:
        """Mailgun's answer: `Forbidden` in text for a bad key, else `{"message"}`."""
        if scripted == 401:
            return Answer(401, "Forbidden", media="text/plain")
        status = 400 if scripted == RECIPIENT_REFUSED else scripted
        return Answer(status, {"message": _MESSAGES.get(scripted, HTTPStatus(status).phrase)})
