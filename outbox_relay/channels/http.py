"""One POST to an HTTP provider and its answer judged, for every channel that speaks HTTP:
the SMS providers, the mail APIs and the webhook endpoint."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx

from outbox_relay.failures import DeliveryFailure, failure_of, http_failure, network_failure
from shared.sms_providers.spec import Answer, Outbound
from shared.verdicts import Judgement

# The failure an answer is, or None when it is a success.
Judge = Callable[[httpx.Response], DeliveryFailure | None]


def by_status(response: httpx.Response) -> DeliveryFailure | None:
    """An answer judged by its HTTP status alone (the gateway contract, webhooks)."""
    return http_failure(response.status_code, response.reason_phrase)


def post(
    client: httpx.Client, url: str, judge: Judge = by_status, **request: Any
) -> httpx.Response:
    """POST `request` to `url`; raise the DeliveryFailure of a request that got no answer or
    of an answer `judge` refuses, else return the answer."""
    try:
        response = client.post(url, **request)
    except httpx.HTTPError as exc:
        raise network_failure(exc) from exc
    failure = judge(response)
    if failure is not None:
        raise failure
    return response


# The line of each request httpx's client writes, written here as the client would: the logs
# keep it, its URL bare (shared/runtime/logs.py).
_client_log = logging.getLogger("httpx")


class Exchange:
    """POSTs a provider's requests as its spec writes them over pooled connections, each answer
    judged by the spec. Straight to httpx's transport: the client's conveniences (redirects,
    cookies, hooks) are none a provider's API needs, and they doubled the CPU of a send."""

    def __init__(self, timeout: float) -> None:
        self._transport = httpx.HTTPTransport()
        self._timeout = httpx.Timeout(timeout).as_dict()

    def __call__(self, outbound: Outbound, judge: Callable[[Answer], Judgement | None]) -> Answer:
        """The answer to `outbound`, or raise the failure `judge` says it is (a request that
        got no answer: transient)."""
        request = httpx.Request(
            "POST",
            outbound.url,
            data=outbound.form,
            json=outbound.json,
            content=outbound.content,
            headers=_headers(outbound),
            extensions={"timeout": self._timeout},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise network_failure(exc) from exc
        _client_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
        headers = {name.lower(): value for name, value in response.headers.items()}
        answer = Answer(response.status_code, response.reason_phrase, response.content, headers)
        judgement = judge(answer)
        if judgement is not None:
            raise failure_of(judgement)
        return answer

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()


def _headers(outbound: Outbound) -> dict[str, str]:
    """The request's headers, with HTTP Basic's when it authenticates so."""
    headers = dict(outbound.headers)
    if outbound.auth is not None:
        pair = ":".join(outbound.auth).encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    return headers
