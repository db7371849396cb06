"""Drain rate on an empty outbox, with a million `sent` rows, and after 100,000 sends.

Run from the repository root: `.venv/bin/python -m bench.bloat [--sample N] [--history N]`.

Each case drains the same number of fresh rows with `outbox-relay run` into the benches' lean
SMTP server (bench/smtp_server.py), in a database of its own, and is compared with empty
databases drained just before and just after it. The million old rows are written by one
INSERT … SELECT; the 100,000 sends go through the relay, with no VACUUM but PostgreSQL's own
autovacuum.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine, text

from bench.common import command, machine, postgres_database, sink_process
from bench.relay_drain import relay_rate
from shared.database.db import create_engine_for
from support.bulk import queue_emails

OLD_SENT_ROWS = """
    INSERT INTO outbox (public_id, created_at, channel, purpose, recipient, locale, template,
                        params, status, attempts, next_attempt_at, sent_at)
    SELECT gen_random_uuid()::text, now() - interval '1 day', 'email', 'welcome',
           'old' || n || '@example.com', 'en', 'welcome', '{}', 'sent', 1,
           now() - interval '1 day', now() - interval '1 day'
      FROM generate_series(1, :rows) AS n
"""


def main() -> int:
    """Measure the rates and print them with their ratios and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--old-rows", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()

    with sink_process() as port:
        with_old, empty_old = compare(port, args.sample, "old", old_rows=args.old_rows)
        after_history, empty_history = compare(port, args.sample, "history", history=args.history)
    print(machine())
    print(
        f"sample: {args.sample} emails drained by `outbox-relay run` (default settings); each "
        f"case against empty outboxes drained just before and just after it"
    )
    print(
        f"with {args.old_rows} sent rows:        {with_old:.0f} messages/s, empty "
        f"{empty_old:.0f} ({with_old / empty_old:.2f} of empty)"
    )
    print(
        f"after {args.history} sends, no VACUUM: {after_history:.0f} messages/s, empty "
        f"{empty_history:.0f} ({after_history / empty_history:.2f} of empty)"
    )
    print(command("bench.bloat"))
    return 0


def compare(
    port: int, sample: int, name: str, *, old_rows: int = 0, history: int = 0
) -> tuple[float, float]:
    """The drain rate in a database prepared as asked, and the mean rate of two empty ones
    drained just before and just after it, so that the machine's drift while the case was
    prepared does not weigh on the ratio."""
    with postgres_database(f"outpost_bloat_{name}") as url:
        engine = create_engine_for(url)
        if old_rows:
            with engine.begin() as connection:
                connection.execute(text(OLD_SENT_ROWS), {"rows": old_rows})
                connection.execute(text("ANALYZE outbox"))
        if history:
            queue_emails(engine, history, prefix="history")
            relay_rate(engine, url, port, history)
        # Write out what preparing dirtied now, not during the drains measured next.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("CHECKPOINT"))
        before = drain_empty(port, sample)
        rate = drain(engine, url, port, sample)
        after = drain_empty(port, sample)
        engine.dispose()
    return rate, (before + after) / 2


def drain_empty(port: int, sample: int) -> float:
    """The drain rate of `sample` rows in a new, empty outbox."""
    with postgres_database("outpost_bloat_empty") as url:
        engine = create_engine_for(url)
        rate = drain(engine, url, port, sample)
        engine.dispose()
    return rate


def drain(engine: Engine, url: str, port: int, sample: int) -> float:
    """The relay's rate over `sample` new rows, from its start: the first claim counts too."""
    queue_emails(engine, sample, prefix="sample")
    return relay_rate(engine, url, port, sample).with_start


if __name__ == "__main__":
    sys.exit(main())
