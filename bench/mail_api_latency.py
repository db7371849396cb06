"""Relay drain rate through a mail provider's HTTP API that takes 100 ms to accept each mail,
as bench/provider_latency.py measures SMTP's (issue 81: at least 150 mails a second with the
default settings).

Run from the repository root: `.venv/bin/python -m bench.mail_api_latency [--seconds S]`.

The API is bench/slow_api.py in a process of its own, answering Postmark's success after the
delay; the relay is `outbox-relay run` with its default settings and `MAIL_URL=postmark://…`,
timed from its first claim to the moment every row is `sent`.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import command, listening_process, machine, postgres_database
from bench.relay_drain import relay_rate
from shared.database.db import create_engine_for
from shared.settings.joint_rules import DEFAULT_CONCURRENCY
from support.bulk import queue_emails

DELAY = 0.1


def main() -> int:
    """Measure and print the drain rate through the API, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    count = max(100, int(args.seconds * DEFAULT_CONCURRENCY / DELAY))
    with postgres_database("outpost_mail_api") as url:
        engine = create_engine_for(url)
        arguments = ["-m", "bench.slow_api"]
        with listening_process(lambda port: [*arguments, str(port), str(DELAY)]) as port:
            queue_emails(engine, count, prefix="api-")
            drain = relay_rate(
                engine, url, port, count, MAIL_URL=f"postmark://bench-token@127.0.0.1:{port}"
            )
        engine.dispose()
    ceiling = DEFAULT_CONCURRENCY / DELAY
    print(machine())
    print(
        f"API taking {DELAY * 1000:.0f} ms a mail, {count} mails, the default settings: "
        f"{drain.rate:.0f} mails/s ({drain.rate / ceiling:.2f} of {ceiling:.0f}, its senders' "
        f"ceiling); relay CPU {drain.cpu_ms:.2f} ms a mail"
    )
    print("target: at least 150 mails/s, as SMTP against the 100 ms provider")
    print(command("bench.mail_api_latency"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
