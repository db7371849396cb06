"""Overload shed, not queued: a request that waited longer than API_QUEUE_TIMEOUT before a
worker took it is answered 503 with Retry-After at once, before its body is read or any password
hashed, so that a burst costs its excess an early answer instead of costing every client the
whole queue's wait.

How long it waited is the proxy's word (`X-Request-Start: t=<seconds>`, which the shipped nginx
site sets), so it is read only behind a trusted proxy (TRUSTED_PROXIES), as X-Forwarded-For is.

It is WSGI middleware ahead of Flask, not a request hook: in a burst most requests are shed, and
each one shed inside Flask (its request context, the other hooks, a response object) costs a
sync worker more than here, where it costs little more than gunicorn's own handling: time taken
from the requests the workers admit (docs/decisions/0021-a-burst-shed-not-queued.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from api_service.metrics import REQUESTS, SHED, method_label
from api_service.problems import overloaded

# Answered whatever the queue: a load balancer's probes and Prometheus's scrape.
ALWAYS = frozenset({"/healthz", "/readyz", "/metrics"})


def init_app(app: Flask, timeout: float) -> None:
    """Shed stale requests ahead of the application (and of every hook: limits, idempotency)."""
    app.wsgi_app = ShedStale(app.wsgi_app, timeout, app.url_map)  # type: ignore[method-assign]


class ShedStale:
    """The application, except for a request that queued more than `timeout` seconds: that one
    gets the overload problem document, counted as the application counts its answers."""

    def __init__(self, app: WSGIApplication, timeout: float, routes: Map) -> None:
        self.app = app
        self.timeout = timeout
        self.routes = routes
        # The same answer every time: built once, as the application builds its problems.
        answer = overloaded(math.ceil(timeout)).to_response()
        self.status = answer.status
        self.headers = list(answer.headers.items())
        self.body = answer.get_data()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = request_start(environ.get("HTTP_X_REQUEST_START"))
        if (
            started is None
            or time.time() - started <= self.timeout
            or environ.get("PATH_INFO") in ALWAYS
        ):
            return self.app(environ, start_response)
        SHED.inc()
        REQUESTS.labels(method_label(environ["REQUEST_METHOD"]), self.route(environ), "503").inc()
        start_response(self.status, self.headers)
        return [self.body]

    def route(self, environ: WSGIEnvironment) -> str:
        """The route pattern the request names, as the application labels its metrics."""
        try:
            rule, _ = self.routes.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:  # no route, another method's, or a redirect to one
            return "unmatched"
        return rule.rule


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
