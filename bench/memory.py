"""The relay's peak memory while it drains a large backlog, read from the kernel (VmHWM).

Run from the repository root: `.venv/bin/python -m bench.memory [--messages N]`.

The backlog is queued before the relay starts, so it finds all of it due at once; the SMTP
server is the benches' lean one (bench/smtp_server.py) in a process of its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.common import command, machine, pending, postgres_database, sink_process
from shared.database.db import create_engine_for
from support import processes
from support.bulk import queue_emails
from support.constants import SECRET_KEY

CHUNK = 10_000


def main() -> int:
    """Queue the backlog, drain it with `outbox-relay run`, print the peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="outpost-memory-"))
    with sink_process() as port, postgres_database("outpost_memory") as url:
        engine = create_engine_for(url)
        for start in range(0, args.messages, CHUNK):
            queue_emails(engine, min(CHUNK, args.messages - start), prefix=f"m{start}-")
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "MAIL_FROM": "Outpost <no-reply@outpost.test>",
            "RELAY_METRICS_PORT": "0",
        }
        started = time.perf_counter()
        relay = processes.relay(env, workdir)
        peak = 0
        try:
            while pending(engine):
                peak = max(peak, kib(relay.pid, "VmHWM"))
                time.sleep(0.5)
            peak = max(peak, kib(relay.pid, "VmHWM"))
            elapsed = time.perf_counter() - started
        finally:
            processes.stop(relay)
        engine.dispose()
    print(machine())
    print(f"backlog: {args.messages} emails, drained in {elapsed:.0f} s")
    print(f"relay peak RSS (VmHWM): {peak / 1024:.0f} MB")
    print(command("bench.memory"))
    return 0


def kib(pid: int, field: str) -> int:
    """A memory figure of a process, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


if __name__ == "__main__":
    sys.exit(main())
