"""What every bench needs: a throwaway PostgreSQL database at head, and the machine's name."""

from __future__ import annotations

import ipaddress
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from shared.database.db import migrate
from shared.database.models import outbox
from support import processes
from support.databases import create_database, drop_database, url_of
from support.ports import free_port


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new database migrated to head, dropped afterwards."""
    name = create_database(prefix)
    try:
        url = url_of(name)
        migrate(url)
        yield url
    finally:
        drop_database(name)


_CLIENTS = itertools.count(1)


def client_address() -> str:
    """A client address no earlier request of this process used, for X-Forwarded-For.

    Sign-ups come from many people: one address sending thousands a minute would make each
    per-IP check walk that address's minute of events (0.8 ms of PostgreSQL at 4,000).
    """
    return str(ipaddress.IPv4Address("10.0.0.0") + next(_CLIENTS))


def command(module: str) -> str:
    """The line naming the command that reproduces a bench's figures: this interpreter, the
    bench's `module` and the arguments it was given."""
    return f"command: {' '.join([sys.executable, '-m', module, *sys.argv[1:]])}"


def machine() -> str:
    """One line naming the machine and the interpreter the figures come from."""
    return (
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def pending(engine: Engine) -> int:
    """Outbox rows not yet delivered; counted on the partial index of pending rows, so that
    watching a drain costs the same however many sent rows the table holds."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
            ).scalar_one()
        )


@contextmanager
def sink_process(
    delay: float = 0.0, tally: Path | None = None, *, chunking: bool = True
) -> Iterator[int]:
    """An SMTP server in a process of its own taking `delay` seconds a message; yields its port.
    With `tally`, it appends a byte to that file for each message it accepts; without
    `chunking`, it offers PIPELINING alone.

    It stands in for a provider's server, which would not share the API's cores: it is the
    benches' own lean server (bench/smtp_server.py), at the lowest CPU priority, so that its
    own work weighs as little as it can on the figures.
    """
    options = [f"--tally={tally}"] * (tally is not None) + ["--no-chunking"] * (not chunking)
    with listening_process(
        lambda port: ["-m", "bench.slow_sink", str(port), str(delay), *options]
    ) as port:
        yield port


@contextmanager
def aiosmtpd_sink() -> Iterator[int]:
    """aiosmtpd's discarding Sink, the tests' SMTP server, in its own process; yields its port."""
    command = ["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l"]
    with listening_process(lambda port: [*command, f"127.0.0.1:{port}"]) as port:
        yield port


@contextmanager
def listening_process(arguments: Callable[[int], list[str]], *, nice: int = 19) -> Iterator[int]:
    """`python ARGUMENTS(port)` at niceness `nice`; yields the port once it listens."""
    port = free_port()
    python = [sys.executable, *arguments(port)]
    server = subprocess.Popen(["nice", "-n", str(nice), *python])
    try:
        processes.eventually(lambda: processes.listening(port), 30, f"{' '.join(python)} listening")
        yield port
    finally:
        server.terminate()
        server.wait()


@contextmanager
def api_and_relay(
    database_url: str, smtp_url: str, relay_database_url: str | None = None, **settings: str
) -> Iterator[int]:
    """gunicorn and `outbox-relay run` on a database (the relay through `relay_database_url`
    if given), as production runs them; yields the API's port once it answers and the relay
    listens, and stops both afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": uuid.uuid4().hex,
        "SMTP_URL": smtp_url,
        # Behind a proxy, as the shipped nginx site runs it: each request names its own client in
        # X-Forwarded-For (client_address), so the per-IP limit keeps its default.
        "TRUSTED_PROXIES": "1",
        "RELAY_METRICS_PORT": "0",
        **settings,
    }
    with served(env, workdir) as port:
        relay = processes.relay(
            {**env, "DATABASE_URL": relay_database_url or database_url}, workdir
        )
        try:
            # Loaded before the relay listens, the first messages would wait for its start-up
            # (0.8 s here), which no figure of a running relay should include.
            log = workdir / "relay.log"
            processes.eventually(
                lambda: "listening for new messages" in log.read_text(), 30, "the relay listening"
            )
            yield port
        finally:
            processes.stop(relay)


@dataclass
class Delayed:
    """A database reached through bench/delay_proxy.py: its URL, and the round trips so far."""

    url: str
    counts: Path

    def round_trips(self) -> int:
        """How many round trips clients have made through the proxy (as of 0.1 s ago)."""
        return int(self.counts.read_text() or 0)


@contextmanager
def delayed(database_url: str, delay_ms: float, trace: Path | None = None) -> Iterator[Delayed]:
    """`database_url` moved `delay_ms` a round trip away by a proxy in a process of its own,
    which counts the round trips (and with `trace`, writes each one's statement there)."""
    url = make_url(database_url)
    counts = Path(tempfile.mkdtemp(prefix="outpost-delay-")) / "round_trips"
    counts.write_text("0")
    tracing = [str(trace)] if trace is not None else []
    arguments = [str(url.port or 5432), str(delay_ms), str(counts), *tracing]
    with listening_process(
        lambda port: ["-m", "bench.delay_proxy", str(port), *arguments], nice=0
    ) as port:
        proxied = url.set(host="127.0.0.1", port=port)
        yield Delayed(proxied.render_as_string(hide_password=False), counts)


@contextmanager
def served(
    env: dict[str, str], workdir: Path, app: str = "api_service:create_app()"
) -> Iterator[int]:
    """gunicorn with the API's settings serving `app`; yields its port once GET /readyz answers
    200, and stops it afterwards."""
    port = free_port()
    server = processes.gunicorn(env, port, workdir, app=app)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", server)
        yield port
    finally:
        processes.stop(server)
