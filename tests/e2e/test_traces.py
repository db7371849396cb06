"""OpenTelemetry traces across the outbox: a registration's `traceparent` continued by the API,
kept by its rows and continued by the relay's sends, read back from a real OTLP/HTTP receiver;
nothing of OpenTelemetry loaded while OTEL_EXPORTER_OTLP_ENDPOINT is unset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from api_service import create_app
from shared.clock import utcnow
from shared.database.models import outbox
from shared.runtime import tracing
from support import processes
from support.constants import PASSWORD, WEBHOOK_SECRET, MakeRelay
from support.otlp_receiver import OtlpReceiver, ReceivedSpan
from support.rows import rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
# Spans leave a process a tenth of a second after they end, not the SDK's five.
QUICK = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    """A real OTLP/HTTP receiver on a free port."""
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def traced(otlp: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """This process's traces on, exported to `otlp`; off again after the test."""
    monkeypatch.setenv(tracing.ENDPOINT, otlp.endpoint)
    for name, value in QUICK.items():
        monkeypatch.setenv(name, value)
    tracing.start("outpost-api", os.environ)
    yield otlp
    tracing.stop()


def in_trace(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    """The spans of `service` in the client's trace."""
    return [s for s in spans if s.trace_id == TRACE_ID and s.service == service]


def test_a_registration_yields_api_and_relay_spans_in_its_client_trace(
    env: dict[str, str],
    smtp: SinkServer,
    receiver: SmsGateway,
    otlp: OtlpReceiver,
    engine: Engine,
    tmp_path: Path,
) -> None:
    hooks = {"WEBHOOK_URL": receiver.url + "/hooks", "WEBHOOK_SECRET": WEBHOOK_SECRET}
    env = {**env, **hooks, **QUICK, tracing.ENDPOINT: otlp.endpoint}
    with processes.api_and_relay(env, tmp_path) as api:
        answer = processes.post(
            f"{api}/v1/registrations",
            {"email": "ada@example.com", "password": PASSWORD},
            {"traceparent": TRACEPARENT},
        )
        assert answer.status == 202
        # Each process exports on its own schedule: the relay's may come first.
        spans = otlp.wait_for(
            lambda got: (
                len(in_trace(got, "outbox-relay")) == 2 and len(in_trace(got, "outpost-api")) >= 1
            )
        )
    [request] = in_trace(spans, "outpost-api")
    assert (request.name, request.kind, request.parent_span_id) == (
        "POST /v1/registrations",
        "server",
        CLIENT_SPAN,
    )
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["http.route"] == "/v1/registrations"
    sends = {s.attributes["outpost.channel"]: s for s in in_trace(spans, "outbox-relay")}
    by_channel = {row["channel"]: row for row in rows(engine, "outbox")}
    for channel, provider, purpose in [
        ("email", "smtp", "activation"),
        ("webhook", "webhook", "account.registered"),
    ]:
        send = sends[channel]
        assert (send.name, send.kind, send.parent_span_id) == (
            f"deliver {channel}",
            "consumer",
            request.span_id,
        )
        assert send.attributes == {
            "outpost.outbox.id": by_channel[channel]["public_id"],
            "outpost.purpose": purpose,
            "outpost.channel": channel,
            "outpost.attempt": 1,
            "outpost.provider": provider,
            "outpost.outcome": "sent",
        }
        assert (send.links, send.failed) == ((), False)
    # What the rows keep of the trace reaches neither the mail nor the application's event.
    kept = by_channel["email"]["params"][tracing.KEY]
    assert kept == {"traceparent": f"00-{TRACE_ID}-{request.span_id}-01"}
    [mail] = smtp.sink.received
    [event] = receiver.requests
    assert TRACE_ID not in mail.as_string()
    assert TRACE_ID not in event.body.decode()
    assert tracing.KEY not in event.json


def test_spans_still_buffered_leave_when_the_processes_stop(
    env: dict[str, str], smtp: SinkServer, otlp: OtlpReceiver, tmp_path: Path
) -> None:
    # A minute between exports: only the flush at a worker's exit and the relay's SIGTERM sends.
    env = {**env, "OTEL_BSP_SCHEDULE_DELAY": "60000", tracing.ENDPOINT: otlp.endpoint}
    with processes.api_and_relay(env, tmp_path) as api:
        answer = processes.post(
            f"{api}/v1/registrations",
            {"email": "barbara@example.com", "password": PASSWORD},
            {"traceparent": TRACEPARENT},
        )
        assert answer.status == 202
        smtp.sink.wait_for(1)
        assert otlp.exports == 0
    spans = otlp.spans
    assert len(in_trace(spans, "outpost-api")) == len(in_trace(spans, "outbox-relay")) == 1


def test_a_retry_is_a_span_of_the_same_trace_linked_to_the_request(
    traced: OtlpReceiver,
    env: dict[str, str],
    smtp: SinkServer,
    make_relay: MakeRelay,
    engine: Engine,
) -> None:
    app = create_app(env)
    client = app.test_client()
    relay = make_relay()
    smtp.sink.script = ["reply:451"]
    answer = client.post(
        "/v1/registrations",
        json={"email": "grace@example.com", "password": PASSWORD},
        headers={"traceparent": TRACEPARENT},
    )
    assert answer.status_code == 202
    relay.drain()
    # Due again at once, not after the minute a deferral waits.
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    relay.drain()
    smtp.sink.wait_for(1)
    delivery = answer.get_json()["delivery"]["id"]
    shown = client.get(f"/v1/deliveries/{delivery}")
    app.extensions["outpost"].engine.dispose()
    tracing.stop()
    spans = in_trace(traced.spans, "outpost-api")
    [request] = [s for s in spans if s.name == "POST /v1/registrations"]
    first, second = sorted(
        (s for s in spans if s.kind == "consumer"), key=lambda s: s.attributes["outpost.attempt"]
    )
    assert (first.attributes["outpost.outcome"], first.failed, first.links) == ("retry", True, ())
    assert (second.attributes["outpost.attempt"], second.attributes["outpost.outcome"]) == (
        2,
        "sent",
    )
    assert (second.parent_span_id, second.failed) == (request.span_id, False)
    assert second.links == ((TRACE_ID, request.span_id),)
    # The trace context a row keeps is never shown to its client.
    assert TRACE_ID not in answer.get_data(as_text=True)
    assert shown.status_code == 200 and TRACE_ID not in shown.get_data(as_text=True)


def test_a_row_written_outside_a_trace_is_sent_in_a_trace_of_its_own(
    traced: OtlpReceiver, env: dict[str, str], smtp: SinkServer, make_relay: MakeRelay
) -> None:
    app = create_app(env)
    answer = app.test_client().post(
        "/v1/registrations", json={"email": "alan@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 202
    app.extensions["outpost"].engine.dispose()
    make_relay().drain()
    tracing.stop()
    [request] = [s for s in traced.spans if s.kind == "server"]
    [send] = [s for s in traced.spans if s.kind == "consumer"]
    # Without a client's context, the request begins the trace its message is sent in.
    assert request.parent_span_id == ""
    assert (send.trace_id, send.parent_span_id) == (request.trace_id, request.span_id)


def tracestate(members: int, length: int) -> str:
    """A valid `tracestate` of `members` members, `length` characters in all."""
    keys = [f"k{n}=" for n in range(members)]
    fill = length - sum(map(len, keys)) - (members - 1)
    sizes = [fill // members + (n < fill % members) for n in range(members)]
    return ",".join(key + "v" * size for key, size in zip(keys, sizes, strict=True))


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        (tracestate(24, 6144), False),
        (tracestate(32, 512), True),
        (tracestate(32, 513), False),
        (tracestate(33, 200), False),
    ],
    ids=["6KB", "512-chars-32-members", "513-chars", "33-members"],
)
def test_a_row_keeps_a_tracestate_within_w3cs_bounds_and_never_baggage(
    traced: OtlpReceiver, env: dict[str, str], engine: Engine, state: str, kept: bool
) -> None:
    """The red team's 6.7 KB `tracestate` was kept in every row its request wrote (W3C lets a
    client send 512 characters and 32 members); `baggage` may carry what a client says of its
    users, and is never kept."""
    env = {**env, "WEBHOOK_URL": "http://127.0.0.1:9/hooks", "WEBHOOK_SECRET": WEBHOOK_SECRET}
    app = create_app(env)
    headers = {"traceparent": TRACEPARENT, "tracestate": state, "baggage": "user=" + "b" * 4000}
    answer = app.test_client().post(
        "/v1/registrations",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers=headers,
    )
    app.extensions["outpost"].engine.dispose()
    assert answer.status_code == 202
    written = rows(engine, "outbox")
    assert len(written) == 2
    for row in written:
        context = row["params"][tracing.KEY]
        assert context["traceparent"].startswith(f"00-{TRACE_ID}-")
        assert context.get("tracestate") == (state if kept else None)
        assert len(json.dumps(row, default=str)) < 2048
        assert "bbbb" not in json.dumps(row, default=str)


# Run in a process of its own, as gunicorn's worker and the relay are: nothing imported
# beforehand by the suite (its OTLP receiver) can hide what the API and the relay import.
UNTRACED = """
import json, sys
from api_service import create_app
from outbox_relay.bootstrap import build_relay
from shared.database.db import engine_for
from shared.settings.config import Settings
import os

app = create_app()
answer = app.test_client().post(
    "/v1/registrations",
    json={"email": "edsger@example.com", "password": sys.argv[1]},
    headers={"traceparent": sys.argv[2]},
)
settings = Settings.from_env(os.environ)
relay = build_relay(settings, engine_for(settings))
handled = relay.drain()
relay.close()
loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
print(json.dumps({"status": answer.status_code, "handled": handled, "loaded": loaded}))
"""


def test_with_no_endpoint_nothing_of_opentelemetry_is_imported_nor_kept(
    env: dict[str, str], engine: Engine
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", UNTRACED, PASSWORD, TRACEPARENT],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    said = json.loads(done.stdout.splitlines()[-1])
    assert said == {"status": 202, "handled": 1, "loaded": []}
    [row] = rows(engine, "outbox")
    assert tracing.KEY not in row["params"]


@pytest.mark.parametrize(
    "command",
    [["outbox_relay.cli", "run"], ["outpost.cli", "serve"]],
    ids=["relay", "api"],
)
def test_an_endpoint_without_the_traces_extra_stops_the_process_at_start(
    env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    # A package `opentelemetry` with nothing in it, ahead of the installed one.
    (tmp_path / "opentelemetry").mkdir()
    (tmp_path / "opentelemetry" / "__init__.py").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", *command],
        env={
            **os.environ,
            **env,
            tracing.ENDPOINT: "http://127.0.0.1:4318",
            "PYTHONPATH": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in line and "outpost[traces]" in line
