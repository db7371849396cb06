"""The relay's CPU to deliver one message, back to back and after an idle spell, in process.

Run from the repository root: `.venv/bin/python -m bench.relay_warmth [--messages N] [--rounds R]`.

A relay built as `outbox-relay run` builds it (bootstrap.build_relay) on a new PostgreSQL
database, delivering to the benches' SMTP server; one email is queued, then `deliver_due`
claims, sends and marks it, and the CPU time of that call (its thread's, `time.thread_time`)
is the figure. Four ways, taking turns round by round: back to back; after a 1 ms sleep; after
20 ms, the gap between two messages at 50 a second, spent asleep or spinning. The same code and
the same work each way. Beside it, the same for the smallest round trip, a `SELECT 1` on a
psycopg connection of its own: what a round trip to a process that has been idle costs the
caller on this machine (bench/README.md, issue 36's item 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import psycopg

from bench.common import command, machine, postgres_database, sink_process
from outbox_relay.bootstrap import build_relay
from shared.database.db import create_engine_for
from shared.settings.config import Settings
from support.bulk import queue_emails
from support.constants import SECRET_KEY
from support.databases import libpq_url


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


SPELLS: dict[str, Callable[[], None]] = {
    "back to back": lambda: None,
    "1 ms asleep": lambda: time.sleep(0.001),
    "20 ms asleep": lambda: time.sleep(0.02),
    "20 ms spinning": lambda: _spin(0.02),
}


def main() -> int:
    """Deliver one message at a time each way, then print the medians and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200, help="a way, a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    spent: dict[str, list[float]] = {name: [] for name in SPELLS}
    pinged: dict[str, list[float]] = {name: [] for name in SPELLS}
    with sink_process() as port, postgres_database("outpost_relay_warmth") as url:
        settings = Settings.from_env(
            {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "SMTP_URL": f"smtp://127.0.0.1:{port}"}
        )
        feeder = create_engine_for(url)
        relay = build_relay(settings, create_engine_for(url))
        ping = psycopg.connect(libpq_url(url), autocommit=True)
        try:
            for n in range(50):  # every statement prepared, every code path run once
                queue_emails(feeder, 1, prefix=f"warm{n}-")
                relay.deliver_due()
            for r in range(args.rounds):
                for name, spell in SPELLS.items():
                    for n in range(args.messages):
                        queue_emails(feeder, 1, prefix=f"r{r}{n}-")
                        spell()
                        started = time.thread_time()
                        if relay.deliver_due() != 1:
                            raise RuntimeError("one message a call was expected")
                        spent[name].append(time.thread_time() - started)
                    for _ in range(args.messages):
                        spell()
                        started = time.thread_time()
                        ping.execute("SELECT 1").fetchall()
                        pinged[name].append(time.thread_time() - started)
        finally:
            ping.close()
            relay.close()
            feeder.dispose()

    print(machine())
    each = len(spent["back to back"])
    print(f"CPU to deliver one message (claim, send, mark), median of {each} a way:")
    for name, seconds in spent.items():
        ping_us = statistics.median(pinged[name]) * 1e6
        print(
            f"  {name}: {statistics.median(seconds) * 1000:.2f} ms "
            f"(a SELECT 1 round trip: {ping_us:.0f} µs)"
        )
    print(command("bench.relay_warmth"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
