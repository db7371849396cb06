"""What every mail API stand-in shares (support/postmark_api.py, sendgrid_api.py…): a real HTTP
server answering from a script as its provider documents, its key, the addresses it refuses as
the provider would (an inactive or invalid recipient), the ids it gave, and the requests that
broke the provider's contract."""

from __future__ import annotations

import uuid
from abc import abstractmethod

from support.http_stand_in import Answer, Behaviour, GatewayRequest, HttpStandIn

# The address every stand-in refuses as its provider refuses a recipient.
REFUSED = "refused@example.com"


class MailStandIn(HttpStandIn):
    """Answers a send with success (`mode` 0), or what the script says (the provider's own error
    codes, a bare HTTP status); a request with the wrong key, to REFUSED, or that breaks the
    API's contract, gets the provider's error for it whatever the script says."""

    def __init__(self, key: str, mode: Behaviour = 0) -> None:
        super().__init__(mode)
        self.key = key
        self.problems: list[str] = []
        self.sent: list[str] = []  # the provider's ids of the mails accepted, in order

    @abstractmethod
    def mail_url(self, key: str | None = None) -> str:
        """The MAIL_URL that points the relay here, with `key` (else the right one)."""

    @abstractmethod
    def refusal(self, request: GatewayRequest) -> Behaviour | None:
        """What the request earns by itself (a wrong key, a refused recipient, a broken
        contract), if anything."""

    @abstractmethod
    def accepted(self, request: GatewayRequest, given: str) -> Answer:
        """The provider's answer to a mail it took, under id `given`."""

    @abstractmethod
    def failed(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The provider's answer for an error code or a bare status."""

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The answer to a send: what the request earns first, else what the script says."""
        earned = self.refusal(request)
        if isinstance(earned, int):
            return self.failed(request, earned)
        if behaviour:
            return self.failed(request, behaviour)
        given = self.new_id()
        if request.method == "POST":
            self.sent.append(given)
        return self.accepted(request, given)

    def broken(self, request: GatewayRequest, why: str, behaviour: int) -> int:
        """Keep a request that broke the contract in `problems`; the error it earns."""
        self.problems.append(f"{why}: {request.method} {request.path} {request.body[:200]!r}")
        return behaviour

    def new_id(self) -> str:
        """An id as the provider's spec reads it from an answer (the answer may dress it)."""
        return str(uuid.uuid4())
