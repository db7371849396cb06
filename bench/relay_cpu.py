"""The relay's CPU a message when fed one email at a time, by thread: issue 36's item 3 measure.

Run from the repository root: `.venv/bin/python -m bench.relay_cpu [--rate R] [--seconds S]`.

`outbox-relay run` (LISTEN/NOTIFY) on a new PostgreSQL database, delivering to the benches' SMTP
server; the bench queues one email every 1/R s straight into the outbox (the API's own writer,
no API, so no hashing shares the cores) and reads each of the relay's threads' CPU time from
/proc/PID/task before and after, until every outcome is written. `bench.latency` gives the same
measure with the API registering beside the relay, which costs the relay more: its code then
runs with caches the hashing has emptied.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.common import command, machine, pending, postgres_database, sink_process
from bench.cpu import TICKS_PER_SECOND
from shared.database.db import create_engine_for
from support import processes
from support.bulk import queue_emails


def main() -> int:
    """Feed the relay, then print its CPU a message by thread and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--no-chunking", action="store_true", help="the server offers PIPELINING alone"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="outpost-relay-cpu-"))
    with (
        sink_process(chunking=not args.no_chunking) as smtp_port,
        postgres_database("outpost_relay_cpu") as url,
    ):
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": uuid.uuid4().hex,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "RELAY_METRICS_PORT": "0",
        }
        relay = processes.relay(env, workdir)
        engine = create_engine_for(url)
        try:
            log = workdir / "relay.log"
            processes.eventually(
                lambda: "listening for new messages" in log.read_text(), 30, "the relay listening"
            )
            before = threads(relay.pid)
            count = int(args.rate * args.seconds)
            start = time.perf_counter()
            for n in range(count):
                delay = start + n / args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                queue_emails(engine, 1, prefix=f"fed{n}-")
            processes.eventually(lambda: pending(engine) == 0, 60, "every message sent")
            spent = threads(relay.pid)
            spent.subtract(before)
        finally:
            engine.dispose()
            processes.stop(relay)

    print(machine())
    print(f"fed: {args.rate:g} emails/s for {args.seconds:g} s, {count} messages, all sent")
    total = sum(spent.values())
    print(f"the relay's CPU a message, every thread: {ms_each(total, count)} ms")
    for name, ticks in spent.most_common():
        if ticks > 0:
            print(f"  {name}: {ms_each(ticks, count)} ms")
    print(command("bench.relay_cpu"))
    return 0


def threads(pid: int) -> Counter[str]:
    """CPU ticks each thread of process `pid` has used so far, by its name and id."""
    found: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        found[f"{name} {task.name}"] = int(fields[11]) + int(fields[12])
    return found


def ms_each(ticks: int, count: int) -> str:
    """Clock ticks spread over `count` messages, in milliseconds."""
    return f"{ticks / TICKS_PER_SECOND / count * 1000:.2f}"


if __name__ == "__main__":
    sys.exit(main())
