"""`outbox-relay run` as systemd runs it: sd_notify over a real socket, SIGTERM exits 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.backoff import RECONNECT_CAP
from shared.clock import utcnow
from shared.database.db import migrate
from support import processes
from support.bulk import queue_emails
from support.ports import free_port
from support.rows import rows
from support.smtp_sink import SinkServer


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(20)
    yield sock
    sock.close()


def read_until(sock: socket.socket, wanted: str) -> list[str]:
    """What the relay said up to the first line `wanted` (a regular expression) matches."""
    said: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        said.extend(sock.recv(4096).decode().splitlines())
        if any(re.match(wanted, line) for line in said):
            return said
    raise TimeoutError(f"{wanted} never said; got {said}")


def test_ready_watchdog_then_stopping_and_exit_0_on_sigterm(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    smtp: SinkServer,
    notify_socket: socket.socket,
    tmp_path: Path,
) -> None:
    client.post(
        "/v1/registrations",
        json={"email": "ada@example.com", "password": "correct horse battery staple"},
    )
    relay = processes.relay({**env, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path)
    try:
        said = read_until(notify_socket, "READY=1")
        said += read_until(notify_socket, "WATCHDOG=1")
        smtp.sink.wait_for(1)
        said += read_until(notify_socket, "STATUS=backlog 0 pending")
    finally:
        code = processes.stop(relay, signal.SIGTERM)
    said += read_until(notify_socket, "STOPPING=1")
    assert code == 0
    assert said.index("READY=1") < said.index("WATCHDOG=1") < said.index("STOPPING=1")
    status = r"STATUS=backlog \d+ pending, \d+ due, oldest due \d+s; (listening|polling every 0.2s)"
    assert [line for line in said if line.startswith("STATUS=backlog")][-1].startswith(
        "STATUS=backlog 0 pending, 0 due, oldest due 0s; "
    )
    assert all(re.fullmatch(status, line) for line in said if line.startswith("STATUS=backlog"))
    assert [r["status"] for r in rows(engine, "outbox")] == ["sent"]


def test_a_notify_socket_that_went_away_stops_no_delivery(
    env: dict[str, str], client: FlaskClient, engine: Engine, smtp: SinkServer, tmp_path: Path
) -> None:
    """As libsystemd's sd_notify: a NOTIFY_SOCKET that refuses (left in an operator's shell,
    a manager re-executing) is not the relay's failure."""
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(tmp_path / "gone.sock"))
    gone.close()
    relay = processes.relay({**env, "NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, tmp_path)
    try:
        client.post(
            "/v1/registrations",
            json={"email": "ada@example.com", "password": "correct horse battery staple"},
        )
        smtp.sink.wait_for(1)
        processes.eventually(lambda: rows(engine, "outbox")[0]["status"] == "sent", what="sent")
        assert relay.poll() is None
    finally:
        code = processes.stop(relay, signal.SIGTERM)
    assert code == 0, (tmp_path / "relay.log").read_text()[-2000:]


def test_a_relay_waiting_for_its_database_pets_the_watchdog_and_says_why(
    env: dict[str, str], notify_socket: socket.socket, tmp_path: Path
) -> None:
    """systemd kills a relay that stops petting its watchdog; one waiting for its database is
    alive, and must not be killed with the outcomes it holds."""
    unreachable = {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    relay = processes.relay({**unreachable, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path)
    try:
        said = read_until(notify_socket, "WATCHDOG=1")
        said += read_until(notify_socket, "WATCHDOG=1")
    finally:
        code = processes.stop(relay, signal.SIGTERM)
    assert code == 0
    # What it waits for, as `outpost check` quotes the refusal.
    refused = 'connection to server at "127.0.0.1", port 1 failed: Connection refused'
    assert f"STATUS=waiting for the database: {refused}" in said
    assert "READY=1" not in said


def test_a_relay_started_before_the_migrations_waits_for_them_and_says_so(
    env: dict[str, str], notify_socket: socket.socket, tmp_path: Path
) -> None:
    """Against a database nobody migrated yet the relay must not say ready and then fail each
    poll as "database unavailable": it waits, says what to run, and starts once it ran."""
    url = f"sqlite:///{tmp_path / 'not-migrated.db'}"
    relay = processes.relay(
        {**env, "DATABASE_URL": url, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path
    )
    try:
        said = read_until(notify_socket, "STATUS=waiting for the database schema")
        assert "READY=1" not in said
        migrate(url)
        said = read_until(notify_socket, "READY=1")
    finally:
        code = processes.stop(relay, signal.SIGTERM)
    assert code == 0


@pytest.mark.parametrize("waiting_for", ["database", "migrations"])
def test_a_relay_waiting_before_ready_keeps_extending_systemds_start_timeout(
    env: dict[str, str], notify_socket: socket.socket, tmp_path: Path, waiting_for: str
) -> None:
    """systemd kills a relay not ready within TimeoutStartSec unless each EXTEND_TIMEOUT_USEC
    comes before the one before it runs out: waiting must never get the relay killed."""
    url = {
        "database": "postgresql://postgres@127.0.0.1:1/nowhere",
        "migrations": f"sqlite:///{tmp_path / 'not-migrated.db'}",
    }[waiting_for]
    relay = processes.relay(
        {**env, "DATABASE_URL": url, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path
    )
    said: list[str] = []
    extended: list[tuple[float, float]] = []  # (when, for how many seconds)
    try:
        while len(extended) < 4:
            lines = read_until(notify_socket, "EXTEND_TIMEOUT_USEC=")
            said += lines
            [usec] = [line.split("=")[1] for line in lines if line.startswith("EXTEND_")]
            extended.append((time.monotonic(), int(usec) / 1e6))
    finally:
        code = processes.stop(relay, signal.SIGTERM)
    assert code == 0
    assert "READY=1" not in said
    for (at, seconds), (next_at, _) in pairwise(extended):
        assert next_at - at < seconds
    # Tries never wait longer than RECONNECT_CAP apart: each extension outlasts the wait.
    assert all(seconds > RECONNECT_CAP for _, seconds in extended)


def test_a_paused_provider_shows_in_systemd_status(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    notify_socket: socket.socket,
    tmp_path: Path,
) -> None:
    client.post(
        "/v1/registrations",
        json={"email": "ada@example.com", "password": "correct horse battery staple"},
    )
    refused = {**env, "SMTP_URL": f"smtp://127.0.0.1:{free_port()}?timeout=2"}
    relay = processes.relay({**refused, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path)
    try:
        # The row waits for the probe, which it then is (the only message): pending, rarely
        # due at the instant of a report.
        read_until(
            notify_socket,
            r"STATUS=provider smtp down since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: "
            r"ConnectionRefusedError.* at connect; backlog 1 pending, ",
        )
    finally:
        processes.stop(relay, signal.SIGTERM)
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"]) == ("pending", 0)


def test_sigterm_mid_send_finishes_the_messages_in_flight_and_releases_the_rest(
    env: dict[str, str], engine: Engine, smtp: SinkServer, tmp_path: Path
) -> None:
    smtp.sink.delay = 2
    queue_emails(engine, 10)
    relay = processes.relay(
        {
            **env,
            "SMTP_URL": smtp.url(timeout=10),
            "RELAY_CONCURRENCY": "2",
        },
        tmp_path,
    )
    # A polite sender: one session at first, a second once the provider took a message.
    processes.eventually(
        lambda: len(smtp.sink.data_commands) - len(smtp.sink.received) == 2,
        20,
        "two sends in flight",
    )
    assert processes.stop(relay, signal.SIGTERM) == 0
    outcome = sorted(
        (r["status"], r["claim_token"] is None, r["locked_until"] is None)
        for r in rows(engine, "outbox")
    )
    assert outcome == [("pending", True, True)] * 7 + [("sent", True, True)] * 3
    assert len(smtp.sink.received) == len(smtp.sink.data_commands) == 3
    pending = [r for r in rows(engine, "outbox") if r["status"] == "pending"]
    assert all(r["next_attempt_at"] <= utcnow() for r in pending), "released rows are due at once"


@pytest.mark.parametrize(("setting", "added"), [(None, 2), ("10", 10), ("0", 0)])
def test_the_relay_lowers_its_cpu_priority_by_relay_nice(
    env: dict[str, str],
    notify_socket: socket.socket,
    tmp_path: Path,
    setting: str | None,
    added: int,
) -> None:
    extra = {} if setting is None else {"RELAY_NICE": setting}
    # processes.relay starts it in a session of its own, as a service manager would.
    relay = processes.relay(
        {**env, **extra, "NOTIFY_SOCKET": notify_socket.getsockname()}, tmp_path
    )
    try:
        read_until(notify_socket, "READY=1")
        # Field 19 of /proc/PID/stat is the niceness; fields after the command name start at 3.
        niceness = int(Path(f"/proc/{relay.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        autogroup = Path(f"/proc/{relay.pid}/autogroup")
        group = autogroup.read_text() if autogroup.exists() else None
    finally:
        assert processes.stop(relay, signal.SIGTERM) == 0
    assert niceness == min(os.nice(0) + added, 19)
    if group is not None:  # the kernel groups by session: the relay's session yields too
        assert group.split()[-2:] == ["nice", str(added)]


# The daemon's loop at its busiest: its wake-ups waited on and the stop Event read back to back,
# so that a signal lands while the loop holds the Event's lock about half the time.
BUSY_LOOP = """
import sys
from outbox_relay import cli, daemon

def busy(daemon):
    print("looping", flush=True)
    while not daemon.relay.stopping.is_set():
        daemon._wake.wait(0)

daemon.Daemon.run = busy
sys.exit(cli.main(["run"]))
"""


def test_sigterm_never_deadlocks_with_the_daemon_loop_on_its_events(tmp_path: Path) -> None:
    """A handler run on the loop's own thread would wait forever for a lock the loop holds."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.db",
        "SECRET_KEY": "x" * 32,
        "RELAY_METRICS_PORT": "0",
    }
    for attempt in range(10):
        log = tmp_path / f"relay{attempt}.log"
        relay = processes.start([sys.executable, "-c", BUSY_LOOP], env, tmp_path, log)
        processes.eventually(lambda path=log: "looping" in path.read_text(), 20, "the loop running")
        time.sleep(0.01 * attempt)
        assert processes.stop(relay, timeout=5) == 0, log.read_text()
