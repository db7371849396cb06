"""Prometheus metrics of the API.

Under gunicorn each worker is a process: outpost/gunicorn_conf.py sets PROMETHEUS_MULTIPROC_DIR,
and /metrics then sums what every worker recorded there.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.operations.figures import Backlog
from shared.reports.provider_events import SOURCES, TYPES
from shared.runtime.build_info import BUILD_INFO

REQUESTS = Counter(
    "outpost_http_requests",
    "HTTP requests answered, by route and status.",
    ["method", "route", "status"],
)
PROVIDER_EVENTS = Counter(
    "outpost_provider_events",
    f"Provider events received, by source ({', '.join(SOURCES)}) and type (bounce, "
    "complaint, delivery; and the notifications Outpost does not act on: SES types such as open "
    "or delivery_delay, mail providers' events such as opened or processed, SMS receipts' "
    "statuses on the way such as sent or buffered); those "
    "matching no message are counted too.",
    ["source", "type"],
)
SHED = Counter(
    "outpost_http_requests_shed",
    "Requests answered 503 at once because they waited longer than API_QUEUE_TIMEOUT before a "
    "worker took them (the proxy's X-Request-Start).",
)
DURATION = Histogram(
    "outpost_http_request_duration_seconds",
    "Time to answer a request, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# The methods the `method` label names; any other is `other`, so that no client can make up
# series (a new method a request) until /metrics outgrows the scrape.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The `method` label of a request's method: itself if in METHODS, else `other`."""
    return method if method in METHODS else "other"


def instrument(app: Flask) -> None:
    """Count and time every request, labelled by its route pattern (never its raw path)."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        route = request.url_rule.rule if request.url_rule else "unmatched"
        method = method_label(request.method)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        if started is not None:
            DURATION.labels(method, route).observe(time.perf_counter() - started)
        return response


def known_events() -> None:
    """Export every provider event counter at 0 from the start, so that `rate()` and
    `increase()` see the first bounce after a restart."""
    for source in SOURCES:
        for kind in TYPES:
            PROVIDER_EVENTS.labels(source, kind)


# The queue as the API exports it: name, help, and the Backlog field each reads.
BACKLOG = (
    (
        "outpost_pending_messages",
        "Messages not yet sent, dead, cancelled or withheld; NaN while the database does not "
        "answer.",
        "pending",
    ),
    (
        "outpost_due_messages",
        "Pending messages due now; NaN while the database does not answer.",
        "due",
    ),
    (
        "outpost_oldest_due_age_seconds",
        "Age of the oldest message due now; 0 when none is, NaN while the database does not "
        "answer.",
        "oldest_due_age",
    ),
)


class _Backlog(Collector):
    """The queue as the database says at each scrape: the API shows it growing even when no
    relay runs to export it."""

    def __init__(self, read: Callable[[], Backlog | None]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = self._read()
        for name, documentation, field in BACKLOG:
            value = math.nan if backlog is None else float(getattr(backlog, field))
            yield GaugeMetricFamily(name, documentation, value=value)


def exposition(backlog: Callable[[], Backlog | None]) -> tuple[bytes, str]:
    """The metrics as Prometheus text, with the `backlog` read now, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_Backlog(backlog))
        # The workers' files hold no Info: the build is said by the worker answering.
        registry.register(BUILD_INFO)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    registry.register(_Backlog(backlog))
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
