"""Prometheus metrics of the API.

Under gunicorn each worker is a process: deploy/gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR,
and /metrics then sums what every worker recorded there.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "outpost_http_requests",
    "HTTP requests answered, by route and status.",
    ["method", "route", "status"],
)
PROVIDER_EVENTS = Counter(
    "outpost_provider_events",
    "Provider events received, by source (outpost, ses, twilio, vonage) and type (bounce, "
    "complaint, delivery; and the notifications Outpost does not act on: SES types such as open "
    "or delivery_delay, SMS receipts' statuses on the way such as sent or buffered); those "
    "matching no message are counted too.",
    ["source", "type"],
)
DURATION = Histogram(
    "outpost_http_request_duration_seconds",
    "Time to answer a request, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def instrument(app: Flask) -> None:
    """Count and time every request, labelled by its route pattern (never its raw path)."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            DURATION.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def exposition() -> tuple[bytes, str]:
    """The metrics as Prometheus text, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
