"""`outpost serve` as a unit runs it: a configuration it refuses is one line and exit 2 (which the
units never restart), as for `outbox-relay run`; each instance keeps to itself (no control socket
shared through $HOME); every line it writes is JSON, gunicorn's own included."""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from shared.database.db import migrate
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY
from support.ports import free_port

SERVE = [sys.executable, "-m", "outpost.cli", "serve"]
RELAY = [sys.executable, "-m", "outbox_relay.cli", "run"]
KEY_HINT = (
    "SECRET_KEY: required, at least 16 characters; use 32 or more random ones, e.g. "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What a unit gives the process (its env file, no more): a SQLite database of its own and
    a HOME of its own."""
    (tmp_path / "home").mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'outpost.db'}",
        "SECRET_KEY": SECRET_KEY,
        "RELAY_METRICS_PORT": "0",
        **extra,
    }


@pytest.mark.parametrize(
    ("command", "variable", "value", "line"),
    [
        (SERVE, "RELAY_BATCH_SIZE", "lots", "RELAY_BATCH_SIZE: invalid literal for int() "),
        (RELAY, "RELAY_BATCH_SIZE", "lots", "RELAY_BATCH_SIZE: invalid literal for int() "),
        # Read by the API's workers, where gunicorn exited 3 ("Worker failed to boot").
        (SERVE, "LOG_LEVEL", "LOUD", "LOG_LEVEL: must be one of DEBUG, "),
        (RELAY, "LOG_LEVEL", "LOUD", "LOG_LEVEL: must be one of DEBUG, "),
        (SERVE, "WEB_CONCURRENCY", "0", "WEB_CONCURRENCY: must be positive"),
        (SERVE, "OUTPOST_BIND", "127.0.0.1:80000", "OUTPOST_BIND: HOST:PORT or [IPv6]:PORT"),
        (SERVE, "SECRET_KEY", "short", KEY_HINT),
        (RELAY, "SECRET_KEY", "short", KEY_HINT),
    ],
    ids=["api", "relay", "api-log-level", "relay-log-level", "workers", "bind", "api-key", "key"],
)
def test_a_refused_configuration_exits_2_with_one_line(
    command: list[str], variable: str, value: str, line: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        command,
        env=environment(tmp_path, **{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    [said] = done.stderr.splitlines()
    prog = "outpost" if command is SERVE else "outbox-relay"
    assert said.startswith(f"{prog}: configuration error: {line}")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        (
            {"SECRET_KEY": SECRET_KEY, "WEBHOOK_URL": "https://app.example/hooks"},
            "WEBHOOK_SECRET",
        ),
    ],
)
def test_the_command_a_hint_gives_makes_a_value_that_is_accepted(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    [hint] = re.findall(r"`([^`]*)`", str(refused.value))
    program, *arguments = shlex.split(hint)
    assert program == "python3", "Debian 12 has no `python`"
    made = subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=30, check=True
    )
    assert len(made.stdout.strip()) >= 32
    assert Settings.from_env({**environ, variable: made.stdout.strip()})


def serve(tmp_path: Path, port: int, name: str) -> subprocess.Popen[bytes]:
    """`outpost serve` with the unit's environment alone, one worker, its output in `name`.log."""
    env = environment(tmp_path, OUTPOST_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
    log = tmp_path / f"{name}.log"
    process = processes.start(SERVE, env, tmp_path, log, inherit=False)
    processes.wait_http(f"http://127.0.0.1:{port}/readyz", process, timeout=90)
    return process


def register(port: int) -> int:
    """The status of a registration sent to the API served on `port`."""
    status, _, _ = processes.post_json(
        f"http://127.0.0.1:{port}/v1/registrations",
        {"email": "ada@example.com", "password": "correct horse battery staple"},
    )
    return status


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    """The SQLite database of environment(), at the newest schema."""
    migrate(environment(tmp_path)["DATABASE_URL"])
    return tmp_path


def test_two_instances_start_and_stop_with_no_control_socket_in_home(migrated: Path) -> None:
    ports = free_port(), free_port()
    first = serve(migrated, ports[0], "first")
    try:
        second = serve(migrated, ports[1], "second")
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
                assert answer.status == 200
        assert processes.stop(second) == 0, (migrated / "second.log").read_text()
    finally:
        assert processes.stop(first) == 0, (migrated / "first.log").read_text()
    assert not list((migrated / "home").iterdir()), "~/.gunicorn/gunicorn.ctl or the like"


def test_every_line_serve_writes_is_json(migrated: Path) -> None:
    port = free_port()
    api = serve(migrated, port, "api")
    try:
        assert register(port) == 202
    finally:
        assert processes.stop(api, signal.SIGTERM) == 0
    lines = [line for line in (migrated / "api.log").read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert all(isinstance(entry, dict) for entry in entries)
    said = {(entry["logger"], entry["message"].split(" ")[0]) for entry in entries}
    assert {("gunicorn.error", "Starting"), ("gunicorn.error", "Booting")} <= said
    assert ("gunicorn.error", "Shutting") in said, "the arbiter's last line too"
    access = [e["message"] for e in entries if e["logger"] == "gunicorn.access"]
    assert any('"POST /v1/registrations" 202' in message for message in access)
    assert SECRET_KEY not in "".join(lines) and "correct horse" not in "".join(lines)


def workers(arbiter: subprocess.Popen[bytes]) -> set[int]:
    """The pids of the arbiter's workers."""
    children = Path(f"/proc/{arbiter.pid}/task/{arbiter.pid}/children").read_text()
    return {int(pid) for pid in children.split()}


def test_a_reload_replaces_the_workers_with_the_api_already_loaded(migrated: Path) -> None:
    """`systemctl reload outpost-api` (SIGHUP): new workers, forked from the arbiter, which
    loaded the API once at start; requests are answered throughout."""
    port = free_port()
    api = serve(migrated, port, "api")
    try:
        first = workers(api)
        api.send_signal(signal.SIGHUP)
        processes.eventually(lambda: bool(workers(api)) and not workers(api) & first, 60, "new")
        assert register(port) == 202
    finally:
        assert processes.stop(api, signal.SIGTERM) == 0
    entries = processes.json_lines(migrated / "api.log")
    said = [e["message"] for e in entries]
    assert said.count("api ready") == 1
    listening = next(n for n, message in enumerate(said) if message.startswith("Listening at: "))
    assert said.index("api ready") > listening, "ready once it listens"
    assert sum(e["message"].startswith("Booting worker") for e in entries) == 2


def test_an_address_it_cannot_bind_never_says_api_ready(migrated: Path) -> None:
    """gunicorn tries to bind five times, a second apart, then exits 1 (a port may free up, so
    the unit restarts it): the API was never ready, and never says so."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment(migrated, OUTPOST_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1")
        done = subprocess.run(
            SERVE, env=env, capture_output=True, text=True, timeout=90, cwd=migrated
        )
    said = [json.loads(line)["message"] for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert f"Connection in use: ('127.0.0.1', {port})" in said
    assert "api ready" not in said
