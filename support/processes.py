"""Starting the real processes (gunicorn, the relay, `outpost up`, every server) for end-to-end
tests, each ending with the test process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from outpost.serve import GUNICORN_CONFIG
from support.main_pid import Running
from support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
KEEPER = Path(__file__).with_name("keeper.py")


# Every process started here, until kill_leftovers.
_started: list[subprocess.Popen[bytes]] = []


def start(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    *,
    inherit: bool = True,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a command for one test (killed after it, by `kill_leftovers`), its output in `log`
    (after what is there, with `append`); with `env` over this process's environment, or
    (`inherit` off) with `env` alone, as systemd starts a unit."""
    process = tied(command, cwd, log, env={**os.environ, **env} if inherit else env, append=append)
    _started.append(process)
    return process


def tied(
    command: Sequence[str | Path],
    cwd: Path,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    dying: int = signal.SIGTERM,
    kept: bool = False,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a server that ends with this process, however this one ends: in the foreground,
    in a session of its own, as `user` from its start (with `env`, or this process's).

    The kernel sends it `dying` when this process ends, a signal on which it must stop with
    its own children. A server that daemonizes would escape the signal, one that changes its
    own user would lose it: `kept`, such a server runs under support/keeper.py, which keeps
    the signal and passes it on (the process returned is then the keeper's). Every server the
    tests start, for a test or for a session, starts here.
    """
    account = pwd.getpwnam(user) if user else None
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-I", KEEPER, *command] if kept else command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=os.getgrouplist(account.pw_name, account.pw_gid) if account else None,
            # After the change of user, which clears the signal (prctl(2)).
            preexec_fn=_dying_with(os.getpid(), dying) if _on_the_main_thread() else None,
        )


# prctl(2): the signal a process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def _on_the_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _dying_with(parent: int, sig: int) -> Callable[[], None]:
    """What the child runs before its command: `sig` when `parent` ends, however it ends.

    Killed (a SIGTERM'd or timed-out run: pytest-xdist's workers end without their fixtures'
    teardown), a test process would otherwise leave its servers running in their own sessions.
    The signal follows the thread that forked, so only children of the main thread, where
    tests run, take it; one started after the parent ended goes at once.
    """

    def die_with_parent() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


def kill_leftovers() -> None:
    """Kill what a test started and did not stop (it failed first), with its session, stopped
    or not: a failed test must not leave a relay sending from a dropped database."""
    for process in _started:
        if process.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
            process.wait(10)
    _started.clear()


def gunicorn(
    env: dict[str, str], port: int, cwd: Path, app: str = "api_service:create_app()"
) -> subprocess.Popen[bytes]:
    """The API (or another WSGI `app`) as production serves it."""
    return start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            GUNICORN_CONFIG,
            "--workers",
            "2",
            app,
        ],
        {**env, "OUTPOST_BIND": f"127.0.0.1:{port}"},
        cwd,
        cwd / "gunicorn.log",
    )


def relay(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """`outbox-relay run`."""
    return start([sys.executable, "-m", "outbox_relay.cli", "run"], env, cwd, cwd / "relay.log")


def refused_at_start(env: dict[str, str], cwd: Path) -> tuple[list[str], str]:
    """Start the relay, then the API, each with `env`, which neither should accept: the relay's
    log lines once it exited 2 (a configuration error), and the API's log once it exited."""
    started = relay(env, cwd)
    try:
        assert started.wait(30) == 2
    finally:
        stop(started)
    api = gunicorn(env, free_port(), cwd)
    try:
        assert api.wait(30) != 0
    finally:
        stop(api)
    return (cwd / "relay.log").read_text().splitlines(), (cwd / "gunicorn.log").read_text()


def stop(process: Running, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Signal a process and wait for its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until `url` answers 200, failing early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def api_and_relay(
    env: dict[str, str], cwd: Path, stop_relay: int = signal.SIGTERM
) -> Iterator[str]:
    """gunicorn and the relay as processes; yields the API's base URL, then stops both."""
    port = free_port()
    api = gunicorn(env, port, cwd)
    relay_process = relay(env, cwd)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", api)
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            code = stop(relay_process, stop_relay)
        finally:
            # Stopped even when the relay would not stop: a test must not leave a server behind.
            api_code = stop(api)
        assert code == (0 if stop_relay == signal.SIGTERM else -stop_relay)
        assert api_code == 0


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status, headers, decoded JSON body, and the seconds it took."""

    status: int
    headers: Message
    body: dict[str, Any]
    seconds: float


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    """POST a JSON body; the answer, whatever its status."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer_headers, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, payload = error.code, error.headers, error.read()
    return Answer(status, answer_headers, json.loads(payload), time.perf_counter() - started)


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], float]:
    """POST a JSON body; the status, the decoded answer and the seconds it took."""
    answer = post(url, body, headers)
    return answer.status, answer.body, answer.seconds


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on host:port (what every wait for a server's
    start asks)."""
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until `check()` holds, failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g}s")
        time.sleep(0.02)


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log entries of a process's log file (any other line skipped)."""
    entries = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries
