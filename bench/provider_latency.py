"""Relay drain rate against a provider that takes 100 ms or 300 ms to accept each message.

Run from the repository root: `.venv/bin/python -m bench.provider_latency [--seconds S]`.

A real provider answers each message in 100 to 300 ms. The SMTP server here is the benches'
lean server in a process of its own, holding each message that long before its `250`. The
relay is `outbox-relay run` with its default settings, timed from its first claim to the moment
every row is `sent`; in the same run, the same drain with RELAY_CONCURRENCY=4 (the earlier
default) shows what the new default buys. The backlog is sized to take about `--seconds` at
the rate the default should reach.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import command, machine, postgres_database, sink_process
from bench.relay_drain import relay_rate
from shared.database.db import create_engine_for
from shared.settings.joint_rules import DEFAULT_CONCURRENCY
from support.bulk import queue_emails

DELAYS = (0.1, 0.3)
CONCURRENCIES = (DEFAULT_CONCURRENCY, 4)


def main() -> int:
    """Measure and print the drain rate per provider latency and concurrency, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    figures: dict[tuple[float, int], float] = {}
    with postgres_database("outpost_latency") as url:
        engine = create_engine_for(url)
        for delay in DELAYS:
            with sink_process(delay) as port:
                for concurrency in CONCURRENCIES:
                    # About --seconds at the rate `concurrency` senders can reach at most.
                    count = max(100, int(args.seconds * concurrency / delay))
                    queue_emails(engine, count, prefix=f"d{delay}-c{concurrency}-")
                    drain = relay_rate(engine, url, port, count, RELAY_CONCURRENCY=str(concurrency))
                    figures[delay, concurrency] = drain.rate
        engine.dispose()

    print(machine())
    for delay in DELAYS:
        print(f"provider taking {delay * 1000:.0f} ms a message:")
        for concurrency in CONCURRENCIES:
            ceiling = concurrency / delay
            rate = figures[delay, concurrency]
            note = " (the default)" if concurrency == DEFAULT_CONCURRENCY else ""
            print(
                f"  RELAY_CONCURRENCY={concurrency}{note}: {rate:.0f} messages/s "
                f"({rate / ceiling:.2f} of {ceiling:.0f}, its senders' ceiling)"
            )
    print("target: at least 150 messages/s with the defaults against the 100 ms provider")
    print(command("bench.provider_latency"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
