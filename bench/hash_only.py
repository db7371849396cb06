"""A WSGI app that only hashes the posted password: the most any registration could serve here.

bench/register.py serves it with the API's gunicorn settings and loads it with the same
clients, so its rate is the ceiling that HTTP, gunicorn and the load generator leave on this
machine before Flask or the database do anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from api_service.flows.passwords import make_hasher

ANSWER = b'{"status": "pending_activation"}'
_hasher = make_hasher()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Hash a POST body's password and answer 202; answer anything else 200 (ready)."""
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    _hasher.hash(json.loads(body)["password"])
    start_response(
        "202 Accepted",
        [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))],
    )
    return [ANSWER]
