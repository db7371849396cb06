"""Overload shed, not queued: a request that waited longer than API_QUEUE_TIMEOUT before a
worker took it is answered 503 with Retry-After at once, before its body is read or any password
hashed, so that a burst costs its excess an early answer instead of costing every client the
whole queue's wait.

How long it waited is the proxy's word (`X-Request-Start: t=<seconds>`, which the shipped nginx
site sets), so it is read only behind a trusted proxy (TRUSTED_PROXIES), as X-Forwarded-For is.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request

from api_service.dependencies import dependencies
from api_service.metrics import SHED
from api_service.problems import overloaded

# Answered whatever the queue: a load balancer's probes and Prometheus's scrape.
ALWAYS = frozenset({"/healthz", "/readyz", "/metrics"})


def init_app(app: Flask) -> None:
    """Shed stale requests before every other hook (limits, idempotency) runs."""
    app.before_request_funcs.setdefault(None, []).insert(0, _shed_if_stale)


def _shed_if_stale() -> Response | None:
    settings = dependencies().settings
    if not settings.trusted_proxies or request.path in ALWAYS:
        return None
    started = request_start(request.headers.get("X-Request-Start"))
    if started is None or time.time() - started <= settings.api_queue_timeout:
        return None
    SHED.inc()
    return overloaded(math.ceil(settings.api_queue_timeout)).to_response()


def request_start(header: str | None) -> float | None:
    """The epoch seconds an `X-Request-Start` names: `t=` seconds (nginx's `${msec}`), or
    milliseconds or microseconds as other proxies write them; None when it names none."""
    if not header:
        return None
    try:
        value = float(header.strip().removeprefix("t="))
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    if value > 1e14:  # microseconds
        return value / 1e6
    if value > 1e11:  # milliseconds
        return value / 1e3
    return value
