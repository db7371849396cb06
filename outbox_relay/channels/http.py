"""One POST to an HTTP provider and its answer judged, for every channel that speaks HTTP:
the SMS providers and the webhook endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from outbox_relay.failures import DeliveryFailure, http_failure, network_failure

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
