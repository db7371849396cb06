"""One POST to an HTTP provider and its answer judged, for every channel that speaks HTTP:
the SMS providers, the mail APIs and the webhook endpoint."""

from __future__ import annotations

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


def exchange(
    client: httpx.Client, outbound: Outbound, judge: Callable[[Answer], Judgement | None]
) -> Answer:
    """POST a provider's request as its spec wrote it; the answer, or raise the failure its
    spec's `judge` says it is (a request that got no answer: transient)."""
    answers: list[Answer] = []

    def judged(response: httpx.Response) -> DeliveryFailure | None:
        headers = {name.lower(): value for name, value in response.headers.items()}
        answer = Answer(response.status_code, response.reason_phrase, response.content, headers)
        answers.append(answer)
        judgement = judge(answer)
        return None if judgement is None else failure_of(judgement)

    request = {
        "data": outbound.form,
        "json": outbound.json,
        "content": outbound.content,
        "headers": outbound.headers or None,
        "auth": outbound.auth,
    }
    post(client, outbound.url, judged, **{k: v for k, v in request.items() if v is not None})
    return answers[0]
