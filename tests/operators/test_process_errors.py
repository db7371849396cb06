"""How the processes stop on a taken port, a bad LOG_LEVEL or a reader that left: one line each."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support import processes
from support.ports import free_port


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@contextmanager
def listening(port: int) -> Iterator[None]:
    """Another process's listener on 127.0.0.1:port, for as long as the block runs."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        yield


RELAY = [sys.executable, "-m", "outbox_relay.cli"]
UP = [sys.executable, "-m", "outpost.cli", "up"]


def test_a_relay_whose_metrics_port_is_taken_stops_with_one_line_naming_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    with listening(port):
        result = run([*RELAY, "run"], {**env, "RELAY_METRICS_PORT": str(port)}, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"outbox-relay: RELAY_METRICS_PORT: cannot listen on 127.0.0.1:{port}")


def test_the_relay_serves_its_metrics_on_relay_metrics_host(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    relay = processes.relay(
        {**env, "RELAY_METRICS_PORT": str(port), "RELAY_METRICS_HOST": "127.0.0.2"}, tmp_path
    )
    try:
        processes.wait_http(f"http://127.0.0.2:{port}/metrics", relay)
        assert not processes.listening(port), "listens on 127.0.0.2 only"
    finally:
        assert processes.stop(relay) == 0


def test_the_relay_metrics_listen_on_loopback_by_default(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    relay = processes.relay({**env, "RELAY_METRICS_PORT": str(port)}, tmp_path)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/metrics", relay)
        assert not processes.listening(port, "127.0.0.2"), "not every interface"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"outpost_relay_pending_messages" in response.read()
    finally:
        assert processes.stop(relay) == 0


def test_a_bad_log_level_is_a_configuration_error_naming_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run([*RELAY, "stats"], {**env, "LOG_LEVEL": "LOUD"}, tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("outbox-relay: configuration error: LOG_LEVEL: must be one of DEBUG")


def test_an_operator_command_whose_reader_left_exits_quietly(
    env: dict[str, str], tmp_path: Path
) -> None:
    read, write = os.pipe()
    os.close(read)  # `| head` that has already read its lines
    try:
        process = subprocess.Popen(
            [*RELAY, "dead", "list", "--json"],
            env={**os.environ, **env},
            cwd=tmp_path,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    _, err = process.communicate(timeout=60)
    assert err == ""
    assert process.returncode != 0


def test_outpost_up_with_the_api_port_taken_says_so_and_starts_nothing(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    with listening(port):
        result = run(
            [*UP, "--port", str(port), "--smtp-port", str(smtp_port)],
            {"DATABASE_URL": "", "SECRET_KEY": "", "SMTP_URL": ""},
            tmp_path,
        )
    assert result.returncode == 1
    assert "up." not in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith(f"outpost: cannot listen on 127.0.0.1:{port} for the API")
    assert line.endswith("--port")


def test_outpost_up_with_the_catcher_port_taken_says_so_without_a_traceback(
    tmp_path: Path,
) -> None:
    port, smtp_port = free_port(), free_port()
    with listening(smtp_port):
        result = run(
            [*UP, "--port", str(port), "--smtp-port", str(smtp_port)],
            {"DATABASE_URL": "", "SECRET_KEY": "", "SMTP_URL": ""},
            tmp_path,
        )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"outpost: cannot listen on 127.0.0.1:{smtp_port} for the SMTP catcher")
