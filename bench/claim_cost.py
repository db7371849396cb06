"""What a claim costs with codes first (ORDER BY priority, next_attempt_at) beside 1,000,000
sent rows, on PostgreSQL, against the claim in due order alone that it replaced.

Run from the repository root: `.venv/bin/python -m bench.claim_cost [--sent N] [--claims N]`.

The outbox holds `--sent` rows sent a day ago and a backlog of 10,000 due welcome notices with
100 activation codes queued after them. The relay's own Claimer checks that its first claim
holds the codes. Then each round claims a batch of 100 with the relay's statement ordered
codes first and hands it back, then does the same in due order only (the earlier claim, on an
index of its own built for the bench), so that both see the same table, dead entries and
machine; the figures are the median times and the buffers each plan touches, read by
EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import closing

from sqlalchemy import text

from bench.common import command, machine, postgres_database
from outbox_relay import claims, releases
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.messaging.outbox import enqueue
from shared.secrets.secretbox import SecretBox
from shared.vocabulary import Channel, Purpose
from support.bulk import add_rows, queue_emails
from support.constants import SECRET_KEY

SCAN = (
    "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now() "
    "ORDER BY {order} LIMIT 100 FOR UPDATE SKIP LOCKED"
)
ORDERS = {
    "codes first (now)": "priority, next_attempt_at",
    "due order (earlier)": "next_attempt_at",
}
# The relay's claim, written out so that the two differ only in their ORDER BY: the same rows
# leased, the same columns returned.
CLAIM = (
    "UPDATE outbox SET locked_until = now() + interval '60 seconds', "
    "next_attempt_at = now() + interval '60 seconds', claim_token = 'bench' "
    "WHERE id IN ({scan}) RETURNING "
    + ", ".join(claims.CLAIMED_COLUMNS)
    + ", recipient_hash, EXISTS (SELECT FROM suppressions WHERE address_hash = recipient_hash)"
)
RELEASE = text(
    "UPDATE outbox SET next_attempt_at = now() - interval '1 second', locked_until = NULL, "
    "claim_token = NULL WHERE claim_token = 'bench'"
)


def main() -> int:
    """Fill the outbox, time the claims, print the figures and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sent", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=500)
    args = parser.parse_args()

    with postgres_database("outpost_claim") as url:
        engine = create_engine_for(url)
        claims.prepare(engine)
        add_rows(engine, args.sent)
        queue_emails(engine, 10_000, prefix="notice")
        box = SecretBox(SECRET_KEY)
        with engine.begin() as connection:
            for n in range(100):
                enqueue(
                    connection,
                    box,
                    now=utcnow(),
                    channel=Channel.EMAIL,
                    purpose=Purpose.ACTIVATION,
                    recipient=f"code{n}@example.com",
                    locale="en",
                    params={"full_name": None, "expires_minutes": 1440},
                    secret_params={"code": "123456"},
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(
                text(
                    "CREATE INDEX outbox_due_earlier ON outbox (next_attempt_at) "
                    "WHERE status = 'pending'"
                )
            )
            connection.execute(text("VACUUM ANALYZE outbox"))
        timings: dict[str, list[float]] = {name: [] for name in ORDERS}
        statements = {
            name: text(CLAIM.format(scan=SCAN.format(order=o))) for name, o in ORDERS.items()
        }
        with closing(claims.Claimer(engine)) as claimer:
            rows = claimer.claim(now=utcnow(), limit=100, lease_seconds=60)
            codes_first = all(row.purpose == "activation" for row in rows)
            releases.release(engine, rows, utcnow())
        for _round in range(args.claims):
            for name, claim in statements.items():
                with engine.begin() as connection:
                    started = time.perf_counter()
                    connection.execute(claim).all()
                    timings[name].append(time.perf_counter() - started)
                    connection.execute(RELEASE)
        buffers = {}
        with engine.connect() as connection:
            for name, order in ORDERS.items():
                [[plan]] = connection.execute(
                    text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {SCAN.format(order=order)}")
                )
                top = plan[0]["Plan"]
                buffers[name] = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
        engine.dispose()

    print(machine())
    print(f"outbox: {args.sent:,} sent rows, 10,000 due notices, 100 codes queued after them")
    print(f"first claim of 100 held only the codes: {codes_first}")
    print(f"claims of 100 rows, {args.claims} rounds of each, alternating:")
    for name, figures in timings.items():
        print(
            f"  {name}: median {statistics.median(figures) * 1000:.2f} ms, "
            f"mean {statistics.mean(figures) * 1000:.2f} ms"
        )
    now, earlier = (statistics.median(figures) for figures in timings.values())
    print(f"  ratio now / earlier (medians): {now / earlier:.2f}")
    print(f"buffers the scan touched: {buffers}")
    print(command("bench.claim_cost"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
