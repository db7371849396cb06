"""What every bench needs: a throwaway PostgreSQL database at head, and the machine's name."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select

from api_service.passwords import make_hasher
from shared.db import migrate
from shared.models import outbox
from tests.databases import create_database, drop_database, url_of
from tests.smtp_sink import free_port


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
def sink_process(delay: float = 0.0) -> Iterator[int]:
    """An SMTP server in a process of its own taking `delay` seconds a message; yields its port.

    It stands in for a provider's server, which would not share the API's cores: it runs at
    the lowest CPU priority so that its own work weighs as little as it can on the figures.
    """
    port = free_port()
    command = [sys.executable, "-m", "bench.slow_sink", str(port), str(delay)]
    sink = subprocess.Popen(["nice", "-n", "19", *command])
    try:
        time.sleep(1.0)
        yield port
    finally:
        sink.terminate()
        sink.wait()


def hash_time(samples: int = 30) -> float:
    """Median seconds of one argon2id hash with the API's parameters, measured now."""
    hasher = make_hasher()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.hash("correct horse battery staple")
        times.append(time.perf_counter() - started)
    return statistics.median(times)
