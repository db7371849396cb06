"""Tests that measure time or CPU run with no other test of the run beside them.

The suite runs on several workers (pytest-xdist). A test marked `alone` takes a lock the
workers share for itself, every other test takes it with the others: while it runs, the other
workers wait between two tests. A turnstile lets it in ahead of the tests that come after it,
which would otherwise keep the shared lock taken from one test to the next.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def lock_directory(config: pytest.Config) -> Path | None:
    """Where the run's workers keep the locks (the run's temporary directory, which pytest
    clears with it), or None in a run of one process."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config.option.basetemp).parent


@contextmanager
def turn(directory: Path, alone: bool) -> Iterator[None]:
    """Hold the run's lock while a test runs: alone, or beside other tests not alone."""
    with (
        (directory / "alone.turnstile").open("a") as turnstile,
        (directory / "alone.lock").open("a") as lock,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
