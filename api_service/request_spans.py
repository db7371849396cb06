"""A span per request while traces are on (shared/runtime/tracing.py): server kind, named by the
route's pattern, continuing the trace of a client's W3C `traceparent` header (and its
`tracestate`, within W3C's bounds).

Its attributes are the method, the route's pattern and the status code, never the path or the
query, which may carry a code or a token.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, g, request

from api_service.metrics import method_label
from shared.runtime import tracing


def init_app(app: Flask, environ: Mapping[str, str]) -> None:
    """Trace every request when the environment asks for traces; else add nothing to a
    request's way. Asked of the environment, not of the tracing on now: gunicorn loads the
    application before it forks the workers, and each worker starts its own after the fork."""
    if not tracing.wanted(environ):
        return
    app.before_request(_open)
    app.after_request(_answered)
    app.teardown_request(_close)


def _open() -> None:
    """Open the request's span, current while the request is handled: a row it queues keeps
    the span's context (shared.runtime.tracing.kept)."""
    traces = tracing.active()
    if traces is None:
        return
    route = request.url_rule.rule if request.url_rule else None
    method = method_label(request.method)
    attributes = {"http.request.method": method, "http.route": route or "unmatched"}
    name = f"{method} {route}" if route else method
    parent = tracing.continued(request.headers.get)
    g.request_span = traces.open(name, "server", parent, attributes)


def _answered(response: Response) -> Response:
    """Note the status code; an answer of the server's fault (5xx) marks the span failed."""
    traces = tracing.active()
    if traces is not None and "request_span" in g:
        failed = response.status_code >= 500
        error = response.status if failed else None
        traces.note({"http.response.status_code": response.status_code}, error)
    return response


def _close(_error: BaseException | None) -> None:
    """End the request's span, whatever became of the request."""
    opened = g.pop("request_span", None)
    if opened is not None:
        opened.close()
