"""Metrics that see the first event: every counter with a known set of labels is exported at 0
from a process's start (a series that first appears at 1 gives `rate()` and `increase()` nothing
to grow from); the relay exports how long each provider has been paused, its failed probes and
the unresolved dead letters; the API exports the backlog, so a queue with no relay left to
report it still shows."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from api_service import create_app
from api_service.flows.sms_counts import SmsOutcome
from shared.messaging.outbox import DeadReason, Ending
from shared.reports.provider_events import SOURCES, TYPES
from support import processes, wheels
from support.bulk import queue_emails
from support.metrics import scrape
from support.ports import free_port


@pytest.fixture
def relay_metrics(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Start a relay process serving metrics, its SMTP provider a closed port; yields the
    metrics' URL and the relay's environment."""
    port, closed = free_port(), free_port()
    relay_env = {**env, "RELAY_METRICS_PORT": str(port), "SMTP_URL": f"smtp://127.0.0.1:{closed}"}
    relay = processes.relay(relay_env, tmp_path)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        processes.eventually(lambda: _answers(url), 30, "relay metrics")
        yield url, relay_env
    finally:
        assert processes.stop(relay, signal.SIGTERM) == 0


def _answers(url: str) -> bool:
    try:
        scrape(url)
    except OSError:
        return False
    return True


def test_a_fresh_relay_exports_its_counters_at_zero_and_a_pause_as_it_lasts(
    relay_metrics: tuple[str, dict[str, str]], engine: Engine, tmp_path: Path
) -> None:
    url, _ = relay_metrics
    samples = scrape(url)
    installed = wheels.installed(Path(sys.executable).parent, tmp_path)
    assert [key for key in samples if key.startswith("outpost_build_info")] == [
        f'outpost_build_info{{version="{installed}"}}'
    ]
    assert samples[f'outpost_build_info{{version="{installed}"}}'] == 1

    def started() -> list[str]:
        return [
            e["version"] for e in processes.json_lines(tmp_path / "relay.log") if "version" in e
        ]

    processes.eventually(lambda: started() == [installed], 30, "the start line's version")
    for channel in ("email", "sms"):
        for ending in Ending:
            key = f'outpost_relay_messages_total{{channel="{channel}",outcome="{ending.value}"}}'
            assert samples[key] == 0, key
        for reason in DeadReason:
            key = (
                f'outpost_relay_dead_messages_total{{channel="{channel}",reason="{reason.value}"}}'
            )
            assert samples[key] == 0, key
        for kind in ("transient", "permanent"):
            key = f'outpost_relay_failed_attempts_total{{channel="{channel}",kind="{kind}"}}'
            assert samples[key] == 0, key
        assert samples[f'outpost_relay_provider_down_attempts_total{{channel="{channel}"}}'] == 0
    for provider in ("smtp", "sms"):
        assert samples[f'outpost_provider_paused_seconds{{provider="{provider}"}}'] == 0
        assert samples[f'outpost_provider_failed_probes_total{{provider="{provider}"}}'] == 0
    processes.eventually(
        lambda: scrape(url).get("outpost_dead_letters_unresolved") == 0, 15, "dead letters read"
    )

    # The provider refuses connections: the first message pauses it, and probes fail.
    queue_emails(engine, 1)

    def paused_and_probed() -> bool:
        now = scrape(url)
        return (
            now['outpost_provider_up{provider="smtp"}'] == 0
            and now['outpost_provider_paused_seconds{provider="smtp"}'] > 0
            and now['outpost_provider_failed_probes_total{provider="smtp"}'] >= 2
        )

    processes.eventually(paused_and_probed, 30, "paused, and probes counted")

    def each_probe_was_the_message() -> bool:
        now = scrape(url)
        down = now['outpost_relay_messages_total{channel="email",outcome="provider_down"}']
        return down == 1 + now['outpost_provider_failed_probes_total{provider="smtp"}']

    processes.eventually(each_probe_was_the_message, 15, "one provider_down a probe")

    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET status = 'dead', dead_reason = 'expired'"))
    processes.eventually(
        lambda: scrape(url).get("outpost_dead_letters_unresolved") == 1, 15, "one dead letter"
    )


def test_the_api_exports_provider_events_and_its_regions_sms_at_zero_and_the_backlog(
    env: dict[str, str], engine: Engine
) -> None:
    queue_emails(engine, 3)
    app = create_app({**env, "SMS_ALLOWED_REGIONS": "CM,SN"})
    try:
        text_ = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["outpost"].engine.dispose()
    for region in ("CM", "SN"):
        for outcome in SmsOutcome:
            line = f'outpost_sms_total{{outcome="{outcome}",region="{region}"}}'
            assert line in text_, line
    for source in SOURCES:
        for kind in TYPES:
            line = f'outpost_provider_events_total{{source="{source}",type="{kind}"}}'
            assert line in text_, line
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text_.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["outpost_pending_messages"] == 3
    assert samples["outpost_due_messages"] == 3
    assert 0 <= samples["outpost_oldest_due_age_seconds"] < 60


def test_the_api_backlog_under_gunicorn_reads_the_database_once_a_scrape(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    api = processes.gunicorn(env, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{base}/readyz", api)
        queue_emails(engine, 2)
        samples = scrape(f"{base}/metrics")
    finally:
        assert processes.stop(api) == 0
    assert samples["outpost_pending_messages"] == 2
    assert samples['outpost_provider_events_total{source="ses",type="bounce"}'] == 0
