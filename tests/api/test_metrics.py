"""GET /metrics: Prometheus text, summed over gunicorn workers."""

from __future__ import annotations

import re
import secrets
import sys
import urllib.request
from pathlib import Path

from flask.testing import FlaskClient

from support import processes, wheels
from support.ports import free_port


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition, 0 if absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_requests_are_counted_by_route_pattern_and_status(client: FlaskClient) -> None:
    client.post("/v1/registrations", json={"email": "ada@example.com", "password": "x"})
    client.get("/v1/deliveries/00000000-0000-4000-8000-000000000000")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    post = {"method": "POST", "route": "/v1/registrations", "status": "422"}
    assert sample(text, "outpost_http_requests_total", **post) >= 1
    get = {"method": "GET", "route": "/v1/deliveries/<uuid:public_id>", "status": "404"}
    assert sample(text, "outpost_http_requests_total", **get) >= 1
    assert "00000000-0000" not in text
    assert "outpost_http_request_duration_seconds_bucket" in text
    # Once, though this process holds the relay's registrations too.
    assert len(re.findall(r"^outpost_build_info\{version=\"[^\"]+\"\} 1\.0$", text, re.M)) == 1


def test_made_up_methods_are_one_other_label_so_metrics_do_not_grow_without_bound(
    client: FlaskClient,
) -> None:
    """Each made-up method was a series of its own (a counter and a histogram): 400 requests
    without credentials grew /metrics by half a megabyte."""
    before = len(client.get("/metrics").get_data())
    run = secrets.token_hex(4).upper()
    for n in range(400):
        assert client.open("/v1/registrations", method=f"X{run}{n}").status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    assert len(text.encode()) - before < 8 * 1024
    other = {"method": "other", "route": "unmatched", "status": "405"}
    assert sample(text, "outpost_http_requests_total", **other) >= 400


def test_metrics_sum_every_gunicorn_worker_and_say_the_build_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    api = processes.gunicorn(env, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{base}/readyz", api)
        for _ in range(20):
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                assert response.status == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        assert processes.stop(api) == 0
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(text, "outpost_http_requests_total", **labels) == 20
    installed = wheels.installed(Path(sys.executable).parent, tmp_path)
    assert re.findall(r"^outpost_build_info\{.*", text, re.M) == [
        f'outpost_build_info{{version="{installed}"}} 1.0'
    ]
    # Said once at start, the version it runs: the workers are forked from the loaded API.
    started = [
        e for e in processes.json_lines(tmp_path / "gunicorn.log") if e["message"] == "api ready"
    ]
    assert [e["version"] for e in started] == [installed]
