"""The relay as production runs it: NOTIFY wake-ups, metrics, JSON logs, a fallback provider."""

from __future__ import annotations

import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from shared.settings.smtp_url import parse_smtp_url
from support import processes
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.metrics import scrape
from support.ports import free_port
from support.rows import forget_throttles, rows, wait_out_deferrals
from support.smtp_sink import SinkServer

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}


# Polling hourly (after the poll at its start), a relay that sends a message within the minute
# was woken by its NOTIFY, however loaded the machine; bench/latency.py measures how soon.
HOURLY, BY_NOTIFY = 3600, 60


def logged(log: Path, message: str) -> int:
    """How many JSON log entries of this process carry `message`."""
    return sum(1 for entry in processes.json_lines(log) if entry["message"] == message)


@pytest.mark.postgresql_only
def test_notify_wakes_the_relay_at_once_and_survives_a_lost_connection(
    env: dict[str, str], engine: Engine, smtp: SinkServer, tmp_path: Path
) -> None:
    log = tmp_path / "relay.log"
    relay = processes.relay({**env, "RELAY_POLL_INTERVAL": str(HOURLY)}, tmp_path)
    try:
        processes.eventually(lambda: logged(log, "listening for new messages") == 1, 20, "listen")
        queue_emails(engine, 1, prefix="first")
        smtp.sink.wait_for(1, timeout=BY_NOTIFY)

        with engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert killed >= 1
        processes.eventually(lambda: logged(log, "listening for new messages") == 2, 20, "again")
        queue_emails(engine, 1, prefix="second")
        smtp.sink.wait_for(2, timeout=BY_NOTIFY)
        assert logged(log, "listen connection lost; polling only until it is back") >= 1
    finally:
        assert processes.stop(relay, signal.SIGTERM) == 0


LISTENING, STANDING_BY = "listening for new messages", "another relay listens; standing by, polling"
READY = "relay ready"


@pytest.mark.postgresql_only
def test_one_relay_of_a_database_listens_and_another_takes_over_when_it_is_killed(
    env: dict[str, str], engine: Engine, smtp: SinkServer, tmp_path: Path
) -> None:
    """Every NOTIFY woke every relay, and each claimed: one listens, the others stand by."""
    relays, logs, metrics = [], [], []
    for n in range(3):
        (tmp_path / f"relay{n}").mkdir()
        port = free_port()
        # Standing by, a relay sends at its polls (docs/decisions/0012-one-relay-listens.md):
        # once at its start, then hourly, so that only a NOTIFY can explain a delivery within
        # seconds. Every 30 s, a standby's poll once fell on a loaded machine between a row's
        # commit and the listener's claim, and sent the listener's message.
        settings = {"RELAY_POLL_INTERVAL": str(HOURLY), "RELAY_METRICS_PORT": str(port)}
        relays.append(processes.relay({**env, **settings}, tmp_path / f"relay{n}"))
        logs.append(tmp_path / f"relay{n}" / "relay.log")
        metrics.append(f"http://127.0.0.1:{port}/metrics")

    def listeners(among: list[int]) -> list[int]:
        return [n for n in among if logged(logs[n], LISTENING)]

    def delivered_by(n: int, prefix: str, count: int) -> None:
        """A message queued now reaches the sink by a NOTIFY, sent by relay `n` and no other."""
        [queued] = queue_emails(engine, 1, prefix=prefix)
        smtp.sink.wait_for(count, timeout=BY_NOTIFY)
        time.sleep(0.5)  # time for a second copy, were there one
        copies = Counter(str(message["Message-ID"]) for message in smtp.sink.received)
        assert (len(copies), max(copies.values())) == (count, 1), "a message sent twice"
        senders = [
            m for m in range(3) if queued in {e.get("id") for e in processes.json_lines(logs[m])}
        ]
        assert senders == [n]

    def gauges(among: list[int]) -> list[float]:
        return [scrape(metrics[n])["outpost_relay_listening"] for n in among]

    try:
        everyone = [0, 1, 2]
        # Each relay ready, its first poll (which follows at once) over before a row is queued.
        processes.eventually(
            lambda: all(
                logged(log, READY) and logged(log, LISTENING) + logged(log, STANDING_BY)
                for log in logs
            ),
            20,
            "each relay ready, listening or standing by",
        )
        [first] = listeners(everyone)
        assert [logged(logs[n], STANDING_BY) for n in everyone if n != first] == [1, 1]
        processes.eventually(lambda: sorted(gauges(everyone)) == [0, 0, 1], 15, "the gauges")
        delivered_by(first, "first", 1)

        assert processes.stop(relays[first], signal.SIGKILL) == -signal.SIGKILL
        rest = [n for n in everyone if n != first]
        processes.eventually(lambda: len(listeners(rest)) == 1, 5, "another relay listening")
        delivered_by(listeners(rest)[0], "second", 2)
        processes.eventually(lambda: sorted(gauges(rest)) == [0, 1], 15, "the gauges")
    finally:
        codes = [processes.stop(relay, signal.SIGTERM) for relay in relays]
    assert codes.count(0) == 2


@pytest.fixture
def metrics_relay(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A relay process serving metrics; yields their URL and the relay's log file."""
    port = free_port()
    relay = processes.relay({**env, "RELAY_METRICS_PORT": str(port)}, tmp_path)
    try:
        yield f"http://127.0.0.1:{port}/metrics", tmp_path / "relay.log"
    finally:
        assert processes.stop(relay, signal.SIGTERM) == 0


def test_metrics_and_json_logs_report_each_outcome(
    metrics_relay: tuple[str, Path], engine: Engine, smtp: SinkServer
) -> None:
    url, log = metrics_relay
    smtp.sink.script = ["reply:550"]
    ids = queue_emails(engine, 3)
    smtp.sink.wait_for(2)
    processes.eventually(lambda: {r["status"] for r in rows(engine, "outbox")} == {"sent", "dead"})

    def reported() -> bool:
        samples = scrape(url)
        return samples.get("outpost_relay_pending_messages") == 0

    processes.eventually(reported, 15, "backlog reported")
    samples = scrape(url)
    sent = 'outpost_relay_messages_total{channel="email",outcome="sent"}'
    dead = 'outpost_relay_messages_total{channel="email",outcome="permanent_error"}'
    assert (samples[sent], samples[dead]) == (2, 1)
    assert samples['outpost_relay_delivery_seconds_count{channel="email"}'] == 3
    assert samples["outpost_relay_oldest_due_age_seconds"] == 0
    assert abs(samples["outpost_relay_last_successful_poll_timestamp_seconds"] - time.time()) < 30

    entries = processes.json_lines(log)
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    deliveries = {e["id"]: e for e in entries if "outcome" in e}
    assert deliveries.keys() == set(ids)
    assert sorted(e["outcome"] for e in deliveries.values()) == [
        "permanent_error",
        "sent",
        "sent",
    ]
    [failed] = [e for e in deliveries.values() if e["outcome"] == "permanent_error"]
    assert failed["error"].startswith("SMTP 550") and failed["level"] == "WARNING"
    lines = log.read_text().splitlines()
    assert all(line.startswith("{") for line in lines), "every line is a JSON object"
    assert not [line for line in lines if re.search(r"User \d", line)], "no template parameters"


@pytest.fixture
def backup_smtp() -> Iterator[SinkServer]:
    """A second real SMTP server, the fallback provider."""
    with SinkServer() as server:
        yield server


@pytest.mark.parametrize(
    ("primary", "backup", "status", "at_backup"),
    [
        pytest.param("reply:451", "accept", "sent", 1, id="451-then-backup-takes-it"),
        pytest.param("drop", "accept", "sent", 1, id="drop-then-backup-takes-it"),
        pytest.param("reply:550", "accept", "dead", 0, id="550-is-not-retried-elsewhere"),
        pytest.param("reply:451", "reply:452", "pending", 0, id="both-transient-is-a-retry"),
    ],
)
def test_a_transient_failure_of_the_first_provider_is_retried_on_the_second(
    make_relay: MakeRelay,
    smtp: SinkServer,
    backup_smtp: SinkServer,
    engine: Engine,
    primary: str,
    backup: str,
    status: str,
    at_backup: int,
) -> None:
    """A send tries one provider; the retry of a message the primary deferred goes to the
    fallback (a minute later, as any deferral at DATA)."""
    smtp.sink.mode, backup_smtp.sink.mode = primary, backup
    queue_emails(engine, 1)
    relay = make_relay(smtp_fallback=parse_smtp_url(backup_smtp.url()))
    relay.drain()
    wait_out_deferrals(engine)
    relay.drain()
    [row] = rows(engine, "outbox")
    assert row["status"] == status
    assert len(backup_smtp.sink.received) == at_backup
    assert smtp.sink.received == []
    assert len(smtp.sink.data_commands) == 1
    if status == "pending":
        assert "SMTP 452" in row["last_error"] and row["attempts"] == 2


def test_a_lease_must_cover_the_slowest_provider_once_not_both_in_turn(
    env: dict[str, str],
) -> None:
    both = {
        **env,
        "SMTP_URL": "smtp://127.0.0.1:2525?timeout=20",
        "SMTP_FALLBACK_URL": "smtp://127.0.0.1:2526?timeout=30",
    }
    with pytest.raises(ConfigError, match=r"^RELAY_LEASE_SECONDS: .*longest send \(30s"):
        Settings.from_env({**both, "RELAY_LEASE_SECONDS": "31"})
    assert Settings.from_env({**both, "RELAY_LEASE_SECONDS": "32"}).longest_send == 30
    # An HTTP request is bounded step by step (connect, write, read): three timeouts of 10 s.
    gateway = {
        **env,
        "SMTP_URL": "smtp://127.0.0.1:2525?timeout=5",
        "SMS_URL": "https://sms",
        "SMS_ALLOWED_REGIONS": "FR",
    }
    assert Settings.from_env(gateway).longest_send == 30
    assert Settings.from_env({k: v for k, v in both.items() if k != "RELAY_LEASE_SECONDS"})


def test_a_cancelled_message_is_never_sent(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    client.post("/v1/registrations", json=GOOD)
    forget_throttles(engine)
    client.post("/v1/activations/resend", json={"email": GOOD["email"]})
    first, second = rows(engine, "outbox")
    assert (first["status"], second["status"]) == ("cancelled", "pending")
    assert make_relay().drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert mail["Message-ID"] == f"<{second['public_id']}@outpost.test>"
    assert [r["status"] for r in rows(engine, "outbox")] == ["cancelled", "sent"]


@pytest.mark.parametrize("value", ["-1", "20", "low"])
def test_relay_nice_outside_0_to_19_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^RELAY_NICE: "):
        Settings.from_env({"SECRET_KEY": "x" * 16, "RELAY_NICE": value})


def test_max_attempts_by_default_outlast_the_longest_horizon_whatever_the_backoff() -> None:
    base = {"SECRET_KEY": "x" * 16}
    assert Settings.from_env(base).relay_max_attempts == 3 * 86400 // 3600 + 10
    assert Settings.from_env({**base, "RELAY_BACKOFF_CAP": "60"}).relay_max_attempts == 4330
    longer = {**base, "NOTICE_TTL": str(7 * 86400)}
    assert Settings.from_env(longer).relay_max_attempts == 3 * 7 * 24 + 10
    assert Settings.from_env({**base, "RELAY_MAX_ATTEMPTS": "5"}).relay_max_attempts == 5


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMTP_RATE", "0"), ("SMTP_RATE", "-3"), ("SMTP_RATE", "fast"), ("NOTICE_TTL", "0")],
)
def test_bad_rate_or_horizon_stops_the_process_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: "):
        Settings.from_env({"SECRET_KEY": "x" * 16, name: value})


@pytest.mark.parametrize("value", ["0", "-1", "10.5", "soon", "nan", "inf"])
def test_database_timeout_outside_0_to_10_seconds_stops_the_process(
    value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_TIMEOUT: "):
        Settings.from_env({"SECRET_KEY": "x" * 16, "DATABASE_TIMEOUT": value})
    if value == "0":
        env = {
            "SECRET_KEY": "x" * 16,
            "DATABASE_TIMEOUT": value,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'outpost.db'}",
        }
        relay = processes.start(
            [sys.executable, "-m", "outbox_relay.cli", "run"], env, tmp_path, tmp_path / "log"
        )
        assert relay.wait(30) == 2
        [line] = (tmp_path / "log").read_text().splitlines()
        assert line.startswith("outbox-relay: configuration error: DATABASE_TIMEOUT: ")


def test_database_timeout_is_read_and_defaults_to_5_seconds() -> None:
    assert Settings.from_env({"SECRET_KEY": "x" * 16}).database_timeout == 5.0
    settings = Settings.from_env({"SECRET_KEY": "x" * 16, "DATABASE_TIMEOUT": "0.5"})
    assert settings.database_timeout == 0.5


def test_smtp_rate_and_notice_ttl_are_read() -> None:
    settings = Settings.from_env({"SECRET_KEY": "x" * 16, "SMTP_RATE": "14", "NOTICE_TTL": "60"})
    assert (settings.smtp_rate, settings.notice_ttl) == (14.0, 60)
    assert Settings.from_env({"SECRET_KEY": "x" * 16}).smtp_rate is None


def test_a_transaction_pooler_needs_a_listen_url_or_none() -> None:
    pooled = {
        "SECRET_KEY": "x" * 16,
        "DATABASE_URL": "postgresql://u@pgbouncer:6432/outpost",
        "DATABASE_POOLER": "transaction",
    }
    with pytest.raises(ConfigError, match=r"^RELAY_LISTEN_URL: required with DATABASE_POOLER"):
        Settings.from_env(pooled)
    direct = "postgresql://u@db:5432/outpost"
    settings = Settings.from_env({**pooled, "RELAY_LISTEN_URL": direct})
    assert settings.relay_listen_url == "postgresql+psycopg://u@db:5432/outpost"
    assert Settings.from_env({**pooled, "RELAY_LISTEN_URL": "none"}).relay_listen_url is None
    with pytest.raises(ConfigError, match=r"^DATABASE_POOLER: "):
        Settings.from_env({**pooled, "DATABASE_POOLER": "session"})
    alone = Settings.from_env({k: v for k, v in pooled.items() if k != "DATABASE_POOLER"})
    assert alone.relay_listen_url == alone.database_url
