"""Where a sign-up's database round trips go: each one's statement, as the wire carries them.

Run from the repository root: `.venv/bin/python -m bench.round_trips [--registrations N]`.
gunicorn and `outbox-relay run` on PostgreSQL, the API through bench/delay_proxy.py (no delay),
which writes the first statement of each round trip it forwards. After a warm-up registration, N
more are made one at a time; the bench prints the round trips of the last, in order, and how many
each registration made, and those of the last that made the median count. A pool's checkout ping
shows as a round trip of its own, and so do BEGIN and COMMIT, which psycopg sends alone. A statement
shows twice the time psycopg prepares it (its sixth run on a connection: Parse, then Bind), once a
connection per statement; with several gunicorn workers that falls in different registrations, hence
the median.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.common import api_and_relay, command, delayed, machine, postgres_database, sink_process
from bench.register import load, register
from support import processes


def main() -> int:
    """Register, then print the last registration's round trips and the count of each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registrations", type=int, default=5)
    args = parser.parse_args()
    trace = Path(tempfile.mkdtemp(prefix="outpost-trips-")) / "trace"
    with ExitStack() as running:
        smtp_port = running.enter_context(sink_process())
        url = running.enter_context(postgres_database("outpost_trips"))
        api = running.enter_context(delayed(url, 0, trace))
        port = running.enter_context(
            api_and_relay(api.url, f"smtp://127.0.0.1:{smtp_port}", relay_database_url=url)
        )
        asyncio.run(load(port, 1, 0.5, "warm"))
        traced: list[list[str]] = []
        for n in range(args.registrations):
            processes.eventually(lambda: _settled(api.counts), 5, "the proxy's count")
            before = len(trace.read_text().splitlines())
            asyncio.run(register(port, f"trips{n}@example.com"))
            processes.eventually(lambda: _settled(api.counts), 5, "the proxy's count")
            traced.append(trace.read_text().splitlines()[before:])
    counts = [len(lines) for lines in traced]
    median = sorted(counts)[len(counts) // 2]
    print(machine())
    print(f"round trips a registration, one at a time: {', '.join(map(str, counts))}")
    print(f"the last one of the median count ({median}), in order:")
    last = next(lines for lines in reversed(traced) if len(lines) == median)
    for number, statement in enumerate(last, 1):
        print(f"  {number:2}. {statement}")
    print(command("bench.round_trips"))
    return 0


def _settled(counts: Path) -> bool:
    """Whether the proxy's count file was rewritten after the last round trip (0.1 s cadence)."""
    first = counts.read_text()
    time.sleep(0.25)
    return counts.read_text() == first


if __name__ == "__main__":
    sys.exit(main())
