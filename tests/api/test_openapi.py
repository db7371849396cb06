"""The committed OpenAPI document is the one the code generates and serves."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from api_service import create_app
from api_service.openapi import DOCUMENT, document, generated, render


def test_committed_document_matches_the_code() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == generated(), (
        "openapi.json is stale: run `.venv/bin/outpost openapi` and commit it"
    )


def test_served_document_is_the_committed_one(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(DOCUMENT.read_text(encoding="utf-8"))


def test_every_route_is_documented_with_its_problems(app: Flask) -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = {
        (method, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
        and rule.endpoint.split(".")[0] not in ("api-docs", "dashboard")
        and rule.endpoint != "static"
    }
    assert documented == served
    for method, path in documented:
        responses = document["paths"][path][method.lower()]["responses"]
        operation = document["paths"][path][method.lower()]
        if "requestBody" in operation:
            assert {"400", "413", "415", "422", "429", "503"} <= set(responses)
        if method == "POST":
            assert "429" in responses
    problem = document["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert "application/problem+json" in problem["content"]
    assert "Retry-After" in problem["headers"]


def read_at_once(app: Flask, readers: int) -> list[dict[str, Any]]:
    """`app`'s document as `readers` threads read it, all starting together."""
    start = threading.Barrier(readers)

    def read(_: int) -> dict[str, Any]:
        start.wait()
        return dict(json.loads(render(document(app))))

    with ThreadPoolExecutor(readers) as pool:
        return list(pool.map(read, range(readers)))


def test_threads_reading_a_fresh_document_at_once_all_get_the_committed_one() -> None:
    """The document is written at its first read: readers racing for it (a threaded server's
    first requests) never write it twice or read it half written."""
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for _ in range(5):
        app = create_app({"SECRET_KEY": "openapi-document-only", "DATABASE_URL": "sqlite://"})
        assert read_at_once(app, 4) == [committed] * 4
