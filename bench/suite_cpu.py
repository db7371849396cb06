"""Where the suite's CPU goes: each test's wall time, its own CPU and its children's.

    SUITE_CPU_DIR=/tmp/cpu .venv/bin/python -m pytest -p bench.suite_cpu  # each worker records
    .venv/bin/python -m bench.suite_cpu /tmp/cpu  # the totals, the largest tests and modules

A test's children are the processes it started and waited for (a relay, gunicorn, `pip`):
PostgreSQL's backends and what a started process left running elsewhere are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from bench.common import command, machine

_record: list[IO[str]] = []


def _cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Record the test's setup, call and teardown: wall seconds, its CPU and its children's."""
    if not _record:
        folder = Path(os.environ.get("SUITE_CPU_DIR", ".suite-cpu"))
        folder.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        _record.append((folder / f"{worker}-{os.getpid()}.jsonl").open("a"))
    at = time.time()
    began = time.monotonic(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    yield
    ended = time.monotonic(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    wall, own, children = (end - start for start, end in zip(began, ended, strict=True))
    line = {"test": item.nodeid, "at": at, "wall": wall, "cpu": own, "children": children}
    _record[0].write(json.dumps(line) + "\n")
    _record[0].flush()


def summary(folder: Path, top: int) -> list[str]:
    """The totals, the `top` tests and modules by CPU (their own and their children's)."""
    workers = {path.stem: list(map(json.loads, path.open())) for path in folder.glob("*.jsonl")}
    tests = [test for records in workers.values() for test in records]
    spent = {t["test"]: t["cpu"] + t["children"] for t in tests}
    modules: Counter[str] = Counter()
    for name, seconds in spent.items():
        modules[name.split("::")[0]] += seconds
    lines = [
        f"{len(tests)} tests: {sum(t['wall'] for t in tests):.0f} s of workers' time, "
        f"CPU {sum(t['cpu'] for t in tests):.0f} s their own and "
        f"{sum(t['children'] for t in tests):.0f} s their children's",
        *_spans(workers),
        f"the {top} tests that took the most CPU:",
    ]
    lines += [f"  {s:7.1f} s  {name}" for name, s in Counter(spent).most_common(top)]
    lines.append(f"the {top} modules that took the most CPU:")
    lines += [f"  {s:7.1f} s  {name}" for name, s in modules.most_common(top)]
    return lines


def _spans(workers: dict[str, list[dict[str, Any]]]) -> list[str]:
    """When each worker began its first test and ended its last, from the earliest first test:
    where a run's wall time is not its tests'."""
    timed = {name: records for name, records in workers.items() if all("at" in r for r in records)}
    if not timed:
        return []
    start = min(r["at"] for records in timed.values() for r in records)
    return [
        f"  {name}: {len(records)} tests from {records[0]['at'] - start:.1f} s "
        f"to {records[-1]['at'] + records[-1]['wall'] - start:.1f} s, "
        f"{sum(r['wall'] for r in records):.0f} s in tests"
        for name, records in sorted(timed.items())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path(".suite-cpu"))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(machine())
    print("\n".join(summary(args.folder, args.top)))
    print(command("bench.suite_cpu"))


if __name__ == "__main__":
    main()
