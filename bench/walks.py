"""A row's walk through the relay's modules: how often a drain of one accepted row enters each
production file, traced with `sys.setprofile` on SQLite.

Run from the repository root: `.venv/bin/python -m bench.walks`.

A registration through the API's test client queues one mail; a relay built as the daemon
builds it, its SMTP server a real one (aiosmtpd) that accepts at once, drains it untraced (its
imports done, its SMTP session opened); a second registration queues another, and that drain is
traced on every thread. A stay is control coming into a production file (`api_service`,
`outbox_relay`, `shared`) from another one, a library between them or not; a return is a stay
in a file stayed in before (stays minus files). Helper modules are left out, their calls not stays:
the clock, the settings, the metrics, the logs and the traces; so are templates (their compiled
code carries the template's file name). Printed: stays / files / returns, then each file's
stays, most first.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from api_service import create_app
from bench.common import command, machine
from outbox_relay.bootstrap import build_relay
from outbox_relay.relay import Relay
from shared.database.db import create_engine_for, migrate
from shared.settings.config import Settings
from support.constants import PASSWORD, SECRET_KEY
from support.smtp_sink import SinkServer

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("api_service/", "outbox_relay/", "shared/")
# Helpers every step may call, as a log line or a clock read: not rooms of the walk.
HELPERS = (
    "shared/clock.py",
    "shared/settings/",
    "outbox_relay/metrics.py",
    "shared/runtime/logs.py",
    "shared/runtime/tracing.py",
)


@dataclass(frozen=True)
class Walk:
    """The production files a traced call entered, in the order of each stay."""

    stays: tuple[str, ...]

    @property
    def files(self) -> Counter[str]:
        """Each file's stays."""
        return Counter(self.stays)

    def line(self) -> str:
        """stays / files / returns."""
        files = len(self.files)
        return f"{len(self.stays)} / {files} / {len(self.stays) - files}"


def production_file(path: str) -> str | None:
    """`path` relative to the repository when it is a production module and no helper."""
    if not path.startswith(str(ROOT)):
        return None
    relative = path[len(str(ROOT)) + 1 :]
    if not relative.endswith(".py"):
        return None  # a template's compiled code
    if not relative.startswith(PRODUCTION) or relative.startswith(HELPERS):
        return None
    return relative


def walk_of(call: Callable[[], object]) -> Walk:
    """The stays of `call`, on its thread and every thread started or running meanwhile."""
    stays: list[str] = []
    lock = threading.Lock()
    files: dict[str, str | None] = {}

    def counted(frame: FrameType | None) -> str | None:
        while frame is not None:
            path = frame.f_code.co_filename
            if path not in files:
                files[path] = production_file(path)
            if files[path] is not None:
                return files[path]
            frame = frame.f_back
        return None

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        path = frame.f_code.co_filename
        if path not in files:
            files[path] = production_file(path)
        entered = files[path]
        if entered is not None and counted(frame.f_back) != entered:
            with lock:
                stays.append(entered)

    with _profiled(profile):
        call()
    return Walk(tuple(stays))


@contextmanager
def _profiled(profile: Callable[[FrameType, str, Any], None]) -> Iterator[None]:
    threading.setprofile(profile)
    running = _set_on_running_threads(profile)
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        running(None)


def _set_on_running_threads(
    profile: Callable[[FrameType, str, Any], None],
) -> Callable[[Any], None]:
    """Profile the threads already running (the senders a relay started) from their next call;
    what takes it off them again."""
    setter = getattr(threading, "setprofile_all_threads", None)
    if setter is None:
        return lambda _: None
    setter(profile)
    return setter  # type: ignore[no-any-return]


def one_accepted_row(directory: Path) -> Walk:
    """The walk of a relay's drain of one row its SMTP server accepts, on SQLite."""
    url = f"sqlite:///{directory / 'walks.db'}"
    migrate(url)
    smtp = SinkServer()
    smtp.start()
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": smtp.url(),
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "RELAY_METRICS_PORT": "0",
    }
    app = create_app(env)
    relay = build_relay(Settings.from_env(env), create_engine_for(url))
    try:
        client = app.test_client()
        _queue(client, "first@example.com")
        assert relay.drain() == 1, "the untraced drain handled no row"
        _queue(client, "second@example.com")
        handled: list[int] = []
        walk = walk_of(lambda: handled.append(relay.drain()))
        assert handled == [1], "the traced drain did not handle one row"
        smtp.sink.wait_for(2)
        return walk
    finally:
        _close(relay)
        app.extensions["outpost"].engine.dispose()
        smtp.stop()


def _queue(client: Any, email: str) -> None:
    response = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202, response.get_data(as_text=True)


def _close(relay: Relay) -> None:
    relay.close()
    relay.engine.dispose()


def main() -> None:
    """Print the walk of one accepted row and each file's stays."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line a command
    with tempfile.TemporaryDirectory() as directory:
        walk = one_accepted_row(Path(directory))
    print(machine())
    print(f"one claimed row, accepted (stays / files / returns): {walk.line()}")
    for path, count in walk.files.most_common():
        print(f"{count:4d}  {path}")
    print(command("bench.walks"))


if __name__ == "__main__":
    main()
