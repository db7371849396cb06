"""Limits against SMS pumping: the regions a number may belong to, and each region's hourly cap."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from api_service import create_app
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY
from support.phones import requests_naming
from support.ports import free_port
from support.rows import count, forget_throttles, let_time_pass, written

PASSWORD = "correct horse battery staple"
FRENCH = "+33612345678"
OTHER_FRENCH = "+33612345679"


def cameroonian(n: int) -> str:
    """A Cameroonian mobile number in its national form, as PHONE_DEFAULT_REGION=CM reads it."""
    return f"6701234{n:02d}"


def sms_count(region: str, outcome: str) -> float:
    """outpost_sms_total of this process for a region and outcome."""
    labels = {"region": region, "outcome": outcome}
    return REGISTRY.get_sample_value("outpost_sms_total", labels) or 0.0


@pytest.fixture
def make_app(env: dict[str, str]) -> Iterator[Any]:
    """API instances on the test database with some variables added; disposed after."""
    made: list[Flask] = []

    def make(**extra: str) -> Flask:
        made.append(create_app({**env, "PHONE_DEFAULT_REGION": "CM", **extra}))
        return made[-1]

    yield make
    for app in made:
        app.extensions["outpost"].engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_ALLOWED_REGIONS", "CM,XX"),
        ("SMS_ALLOWED_REGIONS", " , "),
        ("SMS_REGION_HOURLY_LIMIT", "0"),
        ("SMS_REGION_HOURLY_LIMIT", "many"),
    ],
)
def test_bad_values_stop_the_process_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, name: value})


def test_values_are_read_once() -> None:
    environ = {"SMS_ALLOWED_REGIONS": "cm, FR", "SMS_REGION_HOURLY_LIMIT": "40"}
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, **environ})
    assert settings.sms_allowed_regions == {"CM", "FR"}
    assert settings.sms_region_hourly_limit == 40
    # No SMS provider that costs anything (unset, or the log): every region, 100 an hour.
    unset = Settings.from_env({"SECRET_KEY": SECRET_KEY})
    assert unset.sms_allowed_regions is None
    assert (unset.sms_region_hourly_limit, unset.sms_client_hourly_limit) == (100, 10)
    assert unset.warnings == []


TWILIO = "twilio://AC0123:token@api.twilio.com?from=%2B15005550006"


@pytest.mark.parametrize("variable", ["SMS_URL", "SMS_FALLBACK_URL"])
def test_a_real_provider_without_regions_stops_the_processes_at_start(variable: str) -> None:
    """SMS to every country of the world is never a default (the red team's 51 SMS in 62 s to
    satellite and premium numbers went through a default configuration)."""
    environ = {"SECRET_KEY": SECRET_KEY, "SMS_URL": "log:", variable: TWILIO}
    with pytest.raises(ConfigError, match=r"^SMS_ALLOWED_REGIONS: required with a real SMS"):
        Settings.from_env(environ)
    home = Settings.from_env({**environ, "PHONE_DEFAULT_REGION": "cm"})
    assert home.sms_allowed_regions == {"CM"}
    everywhere = Settings.from_env({**environ, "SMS_ALLOWED_REGIONS": "*"})
    assert everywhere.sms_allowed_regions is None
    if variable == "SMS_URL":
        [warning] = everywhere.warnings
        assert warning.startswith("SMS_ALLOWED_REGIONS: * lets SMS go to numbers of every region")


def test_the_api_and_the_relay_stop_at_start_in_one_line_without_regions(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = {**env, "SMS_URL": TWILIO}
    [line], log = processes.refused_at_start(bad, tmp_path)
    assert line.startswith("outbox-relay: configuration error: SMS_ALLOWED_REGIONS: required")
    assert "outpost-api: configuration error: SMS_ALLOWED_REGIONS: required" in log
    assert "Traceback" not in log


def test_a_number_from_another_region_is_refused_alike_known_or_not(
    make_app: Any, engine: Engine
) -> None:
    open_app = make_app(SMS_ALLOWED_REGIONS="*").test_client()
    known = {"phone": FRENCH, "password": PASSWORD}
    assert open_app.post("/v1/registrations", json=known).status_code == 202
    client = make_app(SMS_ALLOWED_REGIONS="CM").test_client()
    before = written(engine)
    refused = sms_count("FR", "region_refused")
    for known, unknown in zip(requests_naming(FRENCH), requests_naming(OTHER_FRENCH), strict=True):
        answers = [client.post(path, json=body) for path, body in (known, unknown)]
        for answer in answers:
            assert answer.status_code == 422, known[0]
            assert answer.mimetype == "application/problem+json"
            assert answer.json["errors"] == [
                {
                    "pointer": "#/phone",
                    "detail": "This service sends no SMS to numbers of this region.",
                }
            ]
        assert answers[0].json == answers[1].json
        assert dict(answers[0].headers) == dict(answers[1].headers)
    assert written(engine) == before
    assert sms_count("FR", "region_refused") == refused + 2 * len(requests_naming(FRENCH))
    body = {"phone": cameroonian(0), "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    assert count(engine, "users", phone="+237670123400") == 1


def test_past_the_cap_a_region_gets_the_generic_429_and_nothing_is_written(
    make_app: Any, engine: Engine
) -> None:
    client = make_app(SMS_REGION_HOURLY_LIMIT="2", SMS_ALLOWED_REGIONS="CM,FR").test_client()
    queued = sms_count("CM", "queued")
    for n in range(2):
        body = {"phone": cameroonian(n), "password": PASSWORD}
        assert client.post("/v1/registrations", json=body).status_code == 202
    let_time_pass(engine, 61)  # past the per-number cooldown, well inside the region's hour
    before = written(engine)
    capped = sms_count("CM", "capped")
    refusals = [
        client.post("/v1/registrations", json={"phone": cameroonian(5), "password": PASSWORD}),
        # An address already registered, and one of no account: the same answer.
        client.post("/v1/activations/resend", json={"phone": cameroonian(0)}),
        client.post("/v1/activations/resend", json={"phone": cameroonian(6)}),
        client.post("/v1/password-resets", json={"phone": cameroonian(1)}),
        # A number the request names counts whatever the channel: else, which message its
        # owner gets would tell whether it has an account.
        client.post(
            "/v1/registrations",
            json={"email": "bo@example.com", "phone": cameroonian(7), "password": PASSWORD},
        ),
    ]
    for refusal in refusals:
        assert refusal.status_code == 429
        assert refusal.mimetype == "application/problem+json"
        assert refusal.json["type"] == "https://outpost.dev/problems/too-many-requests"
        # The cap is the service's, not the client's: its words say so (a real user of the
        # region, after an attack on it, must not be told it is their fault).
        assert refusal.json["detail"] == (
            "Too many text messages are being sent right now; try again later."
        )
        assert 3500 <= int(refusal.headers["Retry-After"]) <= 3600
    assert written(engine) == before
    assert sms_count("CM", "queued") == queued + 2
    assert sms_count("CM", "capped") == capped + len(refusals)
    other = {"phone": FRENCH, "password": PASSWORD}
    assert client.post("/v1/registrations", json=other).status_code == 202
    let_time_pass(engine, 3601)
    body = {"phone": cameroonian(5), "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202


def test_every_sms_counts_against_its_region_even_to_a_number_not_named(
    make_app: Any, engine: Engine
) -> None:
    client = make_app(SMS_REGION_HOURLY_LIMIT="2").test_client()
    body = {"email": "ada@example.com", "phone": cameroonian(0), "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    forget_throttles(engine)
    resend = {"email": "ada@example.com", "channel": "sms"}
    assert client.post("/v1/activations/resend", json=resend).status_code == 202
    assert count(engine, "outbox", channel="sms") == 1
    # A number of no account gets a withheld notice: written, sent to no provider, so it takes
    # nothing of the region's hour.
    assert client.post("/v1/activations/resend", json={"phone": cameroonian(9)}).status_code == 202
    assert count(engine, "outbox", channel="sms", withhold=True) == 1
    second = {"phone": cameroonian(2), "password": PASSWORD}
    assert client.post("/v1/registrations", json=second).status_code == 202
    refused = {"phone": cameroonian(3), "password": PASSWORD}
    assert client.post("/v1/registrations", json=refused).status_code == 429


def test_withheld_sms_fill_no_regions_hour_but_count_against_their_client(
    make_app: Any, engine: Engine
) -> None:
    """Forty SMS to numbers without accounts, which no provider is sent, leave the region open
    to a real sign-up (the red team closed a region for an hour with 100 of them from 11
    clients in 9 s); each still takes its client's hour."""
    client = make_app(SMS_REGION_HOURLY_LIMIT="40").test_client()
    withheld, queued = sms_count("CM", "withheld"), sms_count("CM", "queued")
    routes = ["/v1/activations/resend", "/v1/password-resets", "/v1/login-codes"]
    for n in range(40):
        by = {"REMOTE_ADDR": f"198.51.100.{n // 10}"}
        answer = client.post(routes[n % 3], json={"phone": cameroonian(n)}, environ_base=by)
        assert answer.status_code == 202, n
    assert count(engine, "outbox", channel="sms", withhold=True) == 40
    assert sms_count("CM", "withheld") == withheld + 40
    spent = client.post(
        "/v1/password-resets",
        json={"phone": cameroonian(40)},
        environ_base={"REMOTE_ADDR": "198.51.100.0"},
    )
    assert spent.status_code == 429
    assert spent.json["detail"] == "Too many requests from this address; slow down."
    body = {"phone": cameroonian(41), "password": PASSWORD}
    real = client.post("/v1/registrations", json=body, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert real.status_code == 202
    assert count(engine, "outbox", recipient="+237670123441", withhold=False) == 1
    assert sms_count("CM", "queued") == queued + 1


def test_the_cap_holds_exactly_across_two_instances_at_once(make_app: Any, engine: Engine) -> None:
    apps = [make_app(SMS_REGION_HOURLY_LIMIT="5") for _ in range(2)]
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def register(n: int) -> None:
        client = apps[n % 2].test_client()
        barrier.wait()
        body = {"phone": cameroonian(n), "password": PASSWORD}
        statuses.append(client.post("/v1/registrations", json=body).status_code)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] * 5 + [429] * 7
    assert count(engine, "outbox", channel="sms") == 5
    assert count(engine, "users") == 5


def test_the_cap_holds_exactly_across_gunicorn_workers(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    extra = {"PHONE_DEFAULT_REGION": "CM", "SMS_REGION_HOURLY_LIMIT": "4"}
    api = processes.gunicorn({**env, **extra}, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    statuses: list[int] = []

    def register(n: int) -> None:
        body = {"phone": cameroonian(n), "password": PASSWORD}
        statuses.append(processes.post(f"{base}/v1/registrations", body).status)

    try:
        processes.wait_http(f"{base}/readyz", api)
        threads = [threading.Thread(target=register, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    finally:
        assert processes.stop(api) == 0
    assert sorted(statuses) == [202] * 4 + [429] * 6
    assert count(engine, "outbox", channel="sms") == 4
    assert 'outpost_sms_total{outcome="queued",region="CM"} 4.0' in metrics
    assert 'outpost_sms_total{outcome="capped",region="CM"} 6.0' in metrics
