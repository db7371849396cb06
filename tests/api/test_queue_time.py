"""Overload is shed, not queued: behind the proxy, a request that waited longer than
API_QUEUE_TIMEOUT before a worker took it gets 503 with Retry-After at once, before anything is
counted, hashed or written; health checks and metrics always answer."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from api_service import create_app
from api_service.queue_time import request_start
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import SECRET_KEY
from support.rows import count, written

BODY = {"email": "ada@example.com", "password": "correct horse battery staple"}


@pytest.fixture
def proxied(env: dict[str, str]) -> Iterator[Flask]:
    app = create_app({**env, "TRUSTED_PROXIES": "1", "API_QUEUE_TIMEOUT": "2"})
    yield app
    app.extensions["outpost"].engine.dispose()


def shed() -> float:
    return REGISTRY.get_sample_value("outpost_http_requests_shed_total") or 0.0


def answered(route: str, status: str) -> float:
    labels = {"method": "POST", "route": route, "status": status}
    return REGISTRY.get_sample_value("outpost_http_requests_total", labels) or 0.0


def test_a_request_that_queued_too_long_is_shed_before_anything_is_done(
    proxied: Flask, engine: Engine
) -> None:
    before = shed()
    stale = {"X-Request-Start": f"t={time.time() - 2.5:.3f}"}
    answer = proxied.test_client().post("/v1/registrations", json=BODY, headers=stale)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["title"] == "Service temporarily unavailable"
    assert written(engine) == {"users": 0, "verification_tokens": 0, "outbox": 0}
    assert count(engine, "throttle_events") == 0, "shed before the per-client limit counted it"
    assert shed() == before + 1


def test_a_shed_request_never_reaches_flask_and_is_counted_by_its_route(proxied: Flask) -> None:
    """Shed ahead of the application, so that a burst's excess costs the workers little: no
    request context, no hook; still counted among the answers, as the application counts."""
    reached: list[str] = []

    @proxied.before_request
    def _reached() -> None:
        reached.append("hook")

    stale = {"X-Request-Start": f"t={time.time() - 2.5:.3f}"}
    client = proxied.test_client()
    before = answered("/v1/registrations", "503"), answered("unmatched", "503")
    assert client.post("/v1/registrations", json=BODY, headers=stale).status_code == 503
    assert client.post("/v1/nowhere", json=BODY, headers=stale).status_code == 503
    assert reached == []
    assert answered("/v1/registrations", "503") == before[0] + 1
    assert answered("unmatched", "503") == before[1] + 1
    fresh = {"X-Request-Start": f"t={time.time():.3f}"}
    assert client.post("/v1/nowhere", json=BODY, headers=fresh).status_code == 404
    assert reached == ["hook"], "a request in time reaches the application"


def test_a_shed_request_with_a_made_up_method_is_counted_as_other(proxied: Flask) -> None:
    """The method label is one of a known set here too: no client makes up series."""
    stale = {"X-Request-Start": f"t={time.time() - 2.5:.3f}"}
    method = f"X{secrets.token_hex(4).upper()}"
    other = {"method": "other", "route": "unmatched", "status": "503"}
    before = REGISTRY.get_sample_value("outpost_http_requests_total", other) or 0.0
    answer = proxied.test_client().open("/v1/registrations", method=method, headers=stale)
    assert answer.status_code == 503
    assert REGISTRY.get_sample_value("outpost_http_requests_total", other) == before + 1
    made_up = {**other, "method": method}
    assert REGISTRY.get_sample_value("outpost_http_requests_total", made_up) is None


def test_a_request_taken_in_time_goes_through(proxied: Flask, engine: Engine) -> None:
    fresh = {"X-Request-Start": f"t={time.time():.3f}"}
    answer = proxied.test_client().post("/v1/registrations", json=BODY, headers=fresh)
    assert answer.status_code == 202
    assert written(engine)["users"] == 1
    assert count(engine, "throttle_events") > 0, "what a shed request is spared"


def test_health_and_metrics_answer_however_long_they_queued(proxied: Flask) -> None:
    stale = {"X-Request-Start": f"t={time.time() - 60:.3f}"}
    client = proxied.test_client()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path, headers=stale).status_code == 200, path


def test_without_a_trusted_proxy_the_header_is_nobodys_word(
    env: dict[str, str], engine: Engine
) -> None:
    app = create_app(env)
    try:
        stale = {"X-Request-Start": f"t={time.time() - 60:.3f}"}
        answer = app.test_client().post("/v1/registrations", json=BODY, headers=stale)
        assert answer.status_code == 202
    finally:
        app.extensions["outpost"].engine.dispose()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("t=1764000000.123", 1764000000.123),  # nginx's ${msec}
        ("t=1764000000123", 1764000000.123),  # milliseconds
        ("t=1764000000123456", 1764000000.123456),  # microseconds
        ("1764000000.5", 1764000000.5),
        ("t=soon", None),
        ("t=-1", None),
        ("t=nan", None),
        ("", None),
        (None, None),
    ],
)
def test_request_start_reads_each_proxys_units(header: str | None, seconds: float | None) -> None:
    found = request_start(header)
    assert found == pytest.approx(seconds) if seconds is not None else found is None


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_queue_timeout_that_is_no_positive_number_stops_the_api(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^API_QUEUE_TIMEOUT"):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "API_QUEUE_TIMEOUT": value})
