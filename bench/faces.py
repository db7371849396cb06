"""What operators see, captured to compare two commits: the `outbox-relay` commands' output,
the admin API's answers and the dashboard's pages after one scripted history (a mail sent, one
refused 550 5.1.1: a dead letter, its suppression, a stranded account; a provider's delivery
report; a refused retry, the suppression lifted, the account reissued), ids, times and tokens
masked. A refactoring of the house keeps it byte for byte:

    .venv/bin/python -m bench.faces > after.txt
    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before .venv/bin/python /tmp/before/../main/bench/faces.py > before.txt
    diff before.txt after.txt
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient

from api_service import create_app
from bench.common import postgres_database
from outbox_relay.bootstrap import build_relay
from outbox_relay.relay import Relay
from shared.database.db import create_engine_for
from shared.settings.config import Settings
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.dashboard import signed_in
from support.smtp_sink import SinkServer

PASSWORD = "correct horse battery staple"
EVENTS_TOKEN = "provider-events-token-0123456789abcdef"
MASKS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z| UTC)?"), "<time>"),
    (re.compile(r'name="csrf_token" value="[^"]+"'), 'name="csrf_token" value="<csrf>"'),
    (re.compile(r"nonce-[A-Za-z0-9+/=_-]+|nonce=\"[^\"]+\""), "<nonce>"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s|min|h|seconds?|minutes?)\b"), "<duration>"),
    (re.compile(r"\"(age_seconds|oldest_due_age_seconds|seconds)\": [\d.]+"), r'"\1": <n>'),
    (re.compile(r"<svg.*?</svg>", re.S), "<chart>"),
    (re.compile(r"(permanent|sent|transient|provider_down)( +)\d+( +)"), r"\1\2<ms>\3"),
    (re.compile(r'"ms": \d+'), '"ms": <ms>'),
]


def masked(text: str) -> str:
    """`text` with what differs between two runs of the same history replaced by a word."""
    for pattern, word in MASKS:
        text = pattern.sub(word, text)
    return text


def main() -> None:
    with postgres_database("faces") as url, _smtp() as smtp:
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "SMTP_URL": smtp.url(),
            "MAIL_FROM": "Outpost <no-reply@outpost.test>",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
            "IP_RATE_LIMIT": "100000",
            "RELAY_METRICS_PORT": "0",
        }
        app = create_app(env)
        relay = build_relay(Settings.from_env(env), create_engine_for(url))
        try:
            client = app.test_client()
            bounced = _history(client, relay, smtp)
            _show("cli", _cli_faces(env, bounced))
            _show("api", _api_faces(client, bounced))
            _show("dashboard", _dashboard_faces(client, bounced))
        finally:
            relay.close()
            relay.engine.dispose()
            app.extensions["outpost"].engine.dispose()


@contextmanager
def _smtp() -> Iterator[SinkServer]:
    server = SinkServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _history(client: FlaskClient, relay: Relay, smtp: SinkServer) -> str:
    """Play the history; the public id of the dead letter."""
    sent = client.post("/v1/registrations", json={"email": "ada@example.com", "password": PASSWORD})
    relay.drain()
    smtp.sink.mode = "reply:550 5.1.1"
    dead = client.post("/v1/registrations", json={"email": "bob@example.com", "password": PASSWORD})
    relay.drain()
    smtp.sink.mode = "accept"
    report = {"events": [{"type": "delivery", "delivery_id": sent.get_json()["delivery"]["id"]}]}
    posted = client.post(
        "/v1/provider-events", json=report, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"}
    )
    print("provider event:", posted.status_code, masked(posted.get_data(as_text=True)))
    return str(dead.get_json()["delivery"]["id"])


def _cli(env: dict[str, str], *args: str) -> str:
    """One `outbox-relay` command's exit code and output."""
    run = subprocess.run(
        [sys.executable, "-m", "outbox_relay.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    return f"$ outbox-relay {' '.join(args)}  (exit {run.returncode})\n{run.stdout}{run.stderr}"


def _cli_faces(env: dict[str, str], dead: str) -> list[str]:
    return [
        _cli(env, "dead", "list"),
        _cli(env, "dead", "list", "--json"),
        _cli(env, "dead", "show", dead),
        _cli(env, "stats"),
        _cli(env, "stats", "--json"),
        _cli(env, "stranded"),
        _cli(env, "suppressions", "list"),
        _cli(env, "dead", "retry", dead, "--actor", "faces"),
    ]


def _api(client: FlaskClient, method: str, path: str, body: object = None) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "faces"}
    response = client.open(path, method=method, json=body, headers=headers)
    shown = json.dumps(response.get_json(), indent=1, sort_keys=True)
    return f"{method} {path} -> {response.status_code}\n{shown}\n"


def _api_faces(client: FlaskClient, dead: str) -> list[str]:
    return [
        _api(client, "GET", "/v1/admin/dead-letters"),
        _api(client, "GET", f"/v1/admin/dead-letters/{dead}"),
        _api(client, "GET", "/v1/admin/stats"),
        _api(client, "GET", "/v1/admin/stranded"),
        _api(client, "GET", "/v1/admin/suppressions"),
        _api(client, "POST", f"/v1/admin/dead-letters/{dead}/retry"),
        _api(client, "POST", "/v1/admin/users/2/reissue-activation"),
        _api(client, "POST", "/v1/admin/suppressions/remove", {"addresses": ["bob@example.com"]}),
        _api(client, "POST", "/v1/admin/users/2/reissue-activation"),
        _api(client, "GET", "/v1/admin/audit"),
    ]


def _dashboard_faces(client: FlaskClient, dead: str) -> list[str]:
    csrf = signed_in(client)
    pages = ["/admin", "/admin/dead", f"/admin/dead/{dead}", "/admin/stranded"]
    shown = [f"GET {p}\n{client.get(p).get_data(as_text=True)}" for p in pages]
    retried = client.post(f"/admin/dead/{dead}/retry", data={"csrf_token": csrf})
    shown.append(f"POST retry -> {retried.status_code} {retried.headers.get('Location')}")
    shown.append(
        f"GET /admin/suppressions\n{client.get('/admin/suppressions').get_data(as_text=True)}"
    )
    return shown


def _show(face: str, outputs: list[str]) -> None:
    for output in outputs:
        print(f"===== {face}\n{masked(output)}")


if __name__ == "__main__":
    main()
