"""A database refusing writes (a standby, a demoted leader: SQLSTATE 25006) is a database away:
a 503 with Retry-After wherever a request meets it, never a 500, and the API writes again by
itself once it takes writes (its connections to the read-only server dropped)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from support.databases import refusing_writes

pytestmark = pytest.mark.postgresql_only

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}

# Requests that write, each through a different flow.
WRITES = [
    ("/v1/registrations", GOOD),
    ("/v1/activations/resend", {"email": GOOD["email"]}),
    ("/v1/password-resets", {"email": GOOD["email"]}),
    ("/v1/logins", GOOD),
]


def test_a_database_refusing_writes_is_a_503_with_retry_after_then_heals(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    name = make_url(str(engine.url)).database
    assert name is not None
    with refusing_writes(name):
        # Its sessions opened from now on refuse writes, as a standby's would.
        app.extensions["outpost"].engine.dispose()
        for path, body in WRITES:
            response = client.post(path, json=body)
            assert response.status_code == 503, (path, response.get_json())
            assert response.mimetype == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
    assert client.post("/v1/registrations", json=GOOD).status_code == 202
