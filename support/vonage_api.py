"""A real HTTP server for tests standing in for Vonage's SMS API, built to its published
reference: it checks each request as Vonage would and answers Vonage's bodies.

https://developer.vonage.com/en/api/sms (Send an SMS: `POST /sms/json`)
https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms (the status codes)
"""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest, HttpStandIn

API_KEY = "abcd1234"
API_SECRET = "vonage-api-secret"
SENDER = "Outpost"

# Vonage's per-message statuses the tests script, with their documented `error-text`.
ERRORS = {
    1: "Throttled",
    2: "Missing Parameters",
    3: "Invalid Parameters",
    4: "Invalid Credentials",
    5: "Internal Error",
    9: "Partner Quota Violation",
    29: "Non-Whitelisted Destination",
}
_FIELDS = {"api_key", "api_secret", "from", "to", "text", "type", "callback"}
_DIGITS = re.compile(r"[1-9]\d{6,14}")
# Characters outside ASCII that GSM-7 carries: any other one in a text sent without
# `type=unicode` would reach the handset replaced.
_GSM7_ACCENTS = frozenset("£¥èéùìòÇØøÅåÆæßÉ¡ÄÖÑÜ§¿äöñüà¤€ΔΦΓΛΩΠΨΣΘΞ")


class VonageApi(HttpStandIn):
    """Answers `200` with one part of `status` "0" (`mode` 0), or the status the script names
    (a Vonage status below 100, as a `200` with `error-text`; an HTTP status from 100 up). A
    request that breaks the API's contract gets Vonage's status for it whatever the script
    says, and is kept in `problems`."""

    def __init__(self, key: str = API_KEY, secret: str = API_SECRET, mode: Behaviour = 0) -> None:
        super().__init__(mode)
        self.key = key
        self.secret = secret
        self.problems: list[str] = []
        self.sent: list[str] = []  # the ids given to the messages accepted, in order

    def sms_url(self, sender: str = SENDER) -> str:
        """The SMS_URL that points the relay here."""
        return f"vonage://{self.key}:{self.secret}@127.0.0.1:{self.port}?from={sender}"

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """Vonage's answer: `message-count` and one entry per part in `messages`."""
        if (request.method, request.path) != ("POST", "/sms/json"):
            self.problems.append(f"{request.method} {request.path}")
            return Answer(404, {"error": "Not Found"})
        broken = self._check(request)
        if broken is not None:
            self.problems.append(f"status {broken}: {request.body!r}")
            behaviour = broken
        if behaviour >= 100:
            return Answer(behaviour, {"error": HTTPStatus(behaviour).phrase})
        if behaviour == 0:
            self.sent.append(uuid.uuid4().hex)
            part = {
                "to": request.form["to"],
                "message-id": self.sent[-1],
                "status": "0",
                "remaining-balance": "3.14159265",
                "message-price": "0.03330000",
                "network": "62401",
            }
        else:
            part = {"status": str(behaviour), "error-text": ERRORS[behaviour]}
        return Answer(200, {"message-count": "1", "messages": [part]})

    def _check(self, request: GatewayRequest) -> int | None:
        """The status the request earns by itself, if any."""
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        form = request.form if content_type == "application/x-www-form-urlencoded" else {}
        if (form.get("api_key"), form.get("api_secret")) != (self.key, self.secret):
            return 4
        if not all(form.get(name) for name in ("from", "to", "text")):
            return 2
        text = form["text"]
        needs_unicode = any(ord(c) > 127 and c not in _GSM7_ACCENTS for c in text)
        if (
            set(form) - _FIELDS
            or not _DIGITS.fullmatch(form["to"])
            or form.get("type", "text") != ("unicode" if needs_unicode else "text")
        ):
            return 3
        return None
