"""The shipped nginx site (outpost/deploy/nginx), run by Debian's nginx in front of gunicorn with a
test certificate: it passes `nginx -t` on Debian 12's nginx 1.22, serves HTTPS and HTTP/2, lets
each route's own body limit decide, keeps the port in Host, never serves /metrics, and logs no
query string and no unsubscribe token."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import nginx, processes
from support.constants import ADMIN_TOKEN
from support.ports import free_port
from support.smtp_stages import SmtpCA

EVENTS_TOKEN = "provider-events-token-0123456789"


@dataclass(frozen=True)
class Site:
    """The site's HTTPS and HTTP base URLs, the API's own, the CA that signed the site, and
    where nginx writes its logs."""

    https: str
    http: str
    api: str
    ca_file: Path
    logs: Path


@pytest.fixture
def site(env: dict[str, str], tmp_path: Path) -> Iterator[Site]:
    if not nginx.available():
        pytest.fail("the nginx site's tests need `apt-get install nginx-light`")
    api_port, http, https = free_port(), free_port(), free_port()
    env = {
        **env,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "TRUSTED_PROXIES": "1",
        "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
    }
    api = processes.gunicorn(env, api_port, tmp_path)
    ca = SmtpCA.make()
    conf = nginx.configure(tmp_path, http=http, https=https, api=api_port, ca=ca)
    checked = nginx.check(conf)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
    ca.ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = nginx.start(conf)
    try:
        processes.wait_http(f"http://127.0.0.1:{api_port}/readyz", api)
        processes.eventually(lambda: processes.listening(https), 15, "nginx listening")
        yield Site(
            f"https://localhost:{https}",
            f"http://localhost:{http}",
            f"http://127.0.0.1:{api_port}",
            tmp_path / "ca.pem",
            tmp_path / "logs",
        )
    finally:
        processes.stop(server, signal.SIGQUIT)
        assert processes.stop(api) == 0


@dataclass(frozen=True)
class Answer:
    status: int
    version: str
    body: str
    location: str


def curl(site: Site, url: str, *options: str, data: bytes | None = None) -> Answer:
    """What curl, trusting the site's CA and offering HTTP/2, gets from `url`."""
    done = subprocess.run(
        [
            "curl",
            "--silent",
            "--http2",
            "--cacert",
            str(site.ca_file),
            "--write-out",
            "\n%{http_code} %{http_version} %{redirect_url}",
            *options,
            *(["--data-binary", "@-"] if data is not None else []),
            url,
        ],
        input=data,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    body, _, last = done.stdout.decode().rpartition("\n")
    status, version, location = [*last.split(" ", 2), ""][:3]
    return Answer(int(status), version, body, location)


def test_the_site_serves_https_and_http2_and_sends_plain_http_there(site: Site) -> None:
    ready = curl(site, f"{site.https}/readyz")
    assert (ready.status, ready.version) == (200, "2")
    moved = curl(site, f"{site.http}/readyz")
    assert moved.status == 301 and moved.location.startswith("https://localhost")


def test_metrics_are_never_served_through_the_site(site: Site) -> None:
    assert curl(site, f"{site.https}/metrics").status == 404
    direct = subprocess.run(
        [
            "curl",
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            f"{site.api}/metrics",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert direct.stdout == "200", "Prometheus still scrapes the API at its own address"


def test_a_providers_batch_reaches_the_api_whose_limit_decides(site: Site) -> None:
    """A 31 KiB batch of events (an SES bounce batch is that big) is the API's to judge; nginx
    refused it with 413 at 16 KiB, and SNS retried it for hours."""
    events = [
        {"type": "bounce", "message_id": f"unknown-{n}", "diagnostic": "x" * 990} for n in range(32)
    ]
    body = json.dumps({"events": events}).encode()
    assert 31 * 1024 <= len(body) < 1024 * 1024
    headers = [
        "-H",
        "Content-Type: application/json",
        "-H",
        f"Authorization: Bearer {EVENTS_TOKEN}",
    ]
    batch = curl(site, f"{site.https}/v1/provider-events", *headers, data=body)
    assert batch.status == 200, batch.body
    assert json.loads(batch.body) == {"accepted": 0, "unknown": 32}
    # Past the largest route's limit nginx refuses it itself.
    huge = curl(site, f"{site.https}/v1/provider-events", *headers, data=b"x" * (2 << 20))
    assert huge.status == 413


def test_dashboard_sign_in_works_on_a_port_other_than_443(site: Site) -> None:
    """The browser's Host (port included) reaches the API, which compares it with Origin."""
    form = ["-H", f"Origin: {site.https}", "--data-urlencode", f"token={ADMIN_TOKEN}"]
    signed_in = curl(site, f"{site.https}/admin/sign-in", *form)
    assert signed_in.status == 303, signed_in.body
    elsewhere = ["-H", "Origin: https://evil.example", "--data-urlencode", f"token={ADMIN_TOKEN}"]
    refused = curl(site, f"{site.https}/admin/sign-in", *elsewhere)
    assert refused.status == 403
    port = site.https.rsplit(":", 1)[1]
    assert f"it came from https://evil.example, and this is localhost:{port}." in refused.body


def test_the_access_log_keeps_no_query_string_and_no_unsubscribe_token(site: Site) -> None:
    """A Vonage receipt's key travels in its query string, an unsubscribe link's token in its
    path: the site logs each request by its path, the token as `-`, over HTTPS and plain HTTP,
    and nothing reaches the log Debian's nginx.conf keeps."""
    secret, token = "SECRET-vonage-key-0123456789", "TOKEN-unsubscribe-0123456789"
    curl(site, f"{site.https}/v1/provider-events/vonage?api_key={secret}", data=b"{}")
    curl(site, f"{site.https}/v1/unsubscribe/{token}")
    curl(site, f"{site.http}/v1/unsubscribe/{token}?api_key={secret}")
    logged = site.logs / nginx.SITE_LOG
    processes.eventually(lambda: len(logged.read_text().splitlines()) == 3, 10, "3 lines logged")
    # In any order: each of nginx's workers writes its own lines, and a loaded machine may
    # hold the one that answered first before it writes.
    lines = logged.read_text().splitlines()
    for request in (
        '"POST /v1/provider-events/vonage HTTP/2.0" 404',
        '"GET /v1/unsubscribe/- HTTP/2.0"',
        '"GET /v1/unsubscribe/- HTTP/1.1" 301',
    ):
        assert sum(request in line for line in lines) == 1, (request, lines)
    for log in (logged, site.logs / nginx.DEBIAN_LOG):
        text = log.read_text() if log.exists() else ""
        assert secret not in text and token not in text, log.name
