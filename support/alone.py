"""Tests that measure time or CPU never run beside each other; those that read the whole
machine's processes run beside no test at all.

The suite runs on several workers (pytest-xdist). Every test other than an `alone` one holds
its worker's slot (a lock file a worker) shared while it runs. An `alone` test takes the run's
`alone` lock, so that no two run at once; one marked `alone(neighbour=False)` then takes every
other worker's slot too: while it runs, those workers wait between two tests. A turnstile a
slot lets it in ahead of that worker's next test, which would otherwise keep the slot taken
from one test to the next.

Beside the other tests, not alone: such a test is held to what it measures beside a loaded
machine anyway (two CPU burners, or a CI runner's other jobs), which is more load than two
tests of the suite, and while the `alone` tests ran beside one neighbour a third worker waited
and the machine was a quarter idle (docs/decisions/0037).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest


def lock_directory(config: pytest.Config) -> Path | None:
    """Where the run's workers keep the locks (the run's temporary directory, which pytest
    clears with it), or None in a run of one process."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config.option.basetemp).parent


def worker_slots(config: pytest.Config) -> tuple[int, int]:
    """This worker's number (gw0: 0) and how many workers the run has."""
    worker: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]  # set by xdist
    return int(worker["workerid"].removeprefix("gw")), int(worker["workercount"])


@contextmanager
def turn(
    directory: Path, alone: bool, worker: int, workers: int, *, beside: bool = True
) -> Iterator[None]:
    """Hold this worker's part of the run's locks while a test runs: an `alone` one beside no
    other `alone` one (beside no test at all if not `beside`), any other in its worker's slot."""
    with ExitStack() as held:

        def locked(name: str, mode: int) -> None:
            opened = held.enter_context((directory / name).open("a"))
            fcntl.flock(opened, mode)
            held.callback(fcntl.flock, opened, fcntl.LOCK_UN)

        def slot(other: int, mode: int) -> None:
            # Through the slot's turnstile: an alone test waiting for the slot holds it, so
            # that the slot's worker cannot take the slot again between two of its tests.
            with (directory / f"turnstile-{other}").open("a") as turnstile:
                fcntl.flock(turnstile, fcntl.LOCK_EX)
                try:
                    locked(f"slot-{other}.lock", mode)
                finally:
                    fcntl.flock(turnstile, fcntl.LOCK_UN)

        if not alone:
            slot(worker, fcntl.LOCK_SH)
        else:
            locked("alone.lock", fcntl.LOCK_EX)
            for other in range(workers):
                if other != worker and not beside:
                    slot(other, fcntl.LOCK_EX)
        yield
