"""A real HTTP server for tests standing in for the SMS gateway (the spec's own contract),
answering from a script."""

from __future__ import annotations

from http import HTTPStatus

from support.http_stand_in import Answer, Behaviour, GatewayRequest, HttpStandIn

__all__ = ["Behaviour", "GatewayRequest", "SmsGateway"]


class SmsGateway(HttpStandIn):
    """Answers each request with the HTTP status the script says (a hang: 202 unless `mode`
    is a status)."""

    def __init__(self, mode: Behaviour = 202, hang_seconds: float = 5.0) -> None:
        super().__init__(mode, hang_seconds)

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """`{"status": "queued"}` for a 2xx, else `{"error": <phrase>}`."""
        status = behaviour or 202
        if 200 <= status <= 299:
            return Answer(status, {"status": "queued"})
        return Answer(status, {"error": HTTPStatus(status).phrase})
