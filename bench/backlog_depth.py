"""What the backlog's figures cost as a backlog deepens, on PostgreSQL: the due rows counted one by
one (as up to revision 0019) against shared.operations.backlog, which reads the smaller side.

Run from the repository root: `.venv/bin/python -m bench.backlog_depth [--depths ...]`.

Beside `--sent` messages sent a day ago, the outbox gains pending messages, fresh (not yet
vacuumed, as in an outage) and analysed, in three shapes: every one due (the relays down, a
provider paused), every one waiting for a later attempt (a retry storm), and half of each. At
each depth both ways are timed in turns, each the fastest of `--samples`, on the same table;
each answer is checked against the other.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection, Engine, text

from bench.common import command, machine, postgres_database
from shared import operations
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.operations import tallies
from shared.operations.figures import lean
from support.bulk import add_rows

# The backlog as revision 0019's code counted it: every due row, and their oldest.
ONE_BY_ONE = text(
    "SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending' "
    "AND priority IN (0, 1) AND next_attempt_at <= :now"
)
# How far each shape's rows are due: before the time they are read at, or an hour after it.
SHAPES = {"all due": (1, 0), "all waiting": (0, 1), "half of each": (1, 1)}


def in_turns(
    engine: Engine, reads: dict[str, Callable[[Connection], object]], samples: int
) -> dict[str, float]:
    """Each read's fastest of `samples`, taken in turns, each in a transaction of its own, after
    one turn to warm up."""
    times: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(samples + 1):
        for name, read in reads.items():
            with engine.begin() as connection:
                started = time.perf_counter()
                read(connection)
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: min(taken[1:]) for name, taken in times.items()}


def one_by_one(connection: Connection) -> tuple[int, object, int]:
    """The due rows and their oldest, counted one by one, and the pending rows' tally: what
    backlog() read up to revision 0019."""
    lean(connection)
    due, oldest = connection.execute(ONE_BY_ONE, {"now": utcnow()}).one()
    return due, oldest, tallies.count_status(connection, ("pending",))


def grow(engine: Engine, shape: tuple[int, int], rows: int) -> None:
    """Add `rows` pending messages in `shape`'s proportions, then analyse the outbox."""
    now = utcnow()
    due, waiting = shape
    for share, later in ((due, -1), (waiting, 1)):
        if share:
            add_rows(
                engine,
                rows * share // (due + waiting),
                status="pending",
                created_at=now - timedelta(hours=2),
                next_attempt_at=now + timedelta(hours=later),
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE outbox"))


def main() -> int:
    """Deepen each shape's backlog, time both ways at each depth, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sent", type=int, default=1_000_000)
    parser.add_argument("--depths", default="1000,10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    depths = [int(depth) for depth in args.depths.split(",")]

    rows = []
    for name, shape in SHAPES.items():
        with postgres_database("outpost_backlog") as url:
            engine = create_engine_for(url)
            add_rows(engine, args.sent)
            queued = 0
            for depth in depths:
                grow(engine, shape, depth - queued)
                queued = depth
                with engine.connect() as connection:
                    figures = operations.backlog(connection, utcnow())
                    due, _, _ = one_by_one(connection)
                assert figures.pending == depth and figures.due == due, (figures, due)
                timed = in_turns(
                    engine,
                    {"old": one_by_one, "new": lambda c: operations.backlog(c, utcnow())},
                    args.samples,
                )
                rows.append((name, depth, due, timed["old"], timed["new"]))
            engine.dispose()

    print(machine())
    print(f"outbox: {args.sent:,} sent rows and the pending ones; fastest of {args.samples}, ms")
    print("| backlog | pending | due | one by one | backlog() | one by one ÷ backlog() |")
    print("|---|---|---|---|---|---|")
    for name, depth, due, old, new in rows:
        print(f"| {name} | {depth:,} | {due:,} | {old:.2f} | {new:.2f} | {old / new:.1f} |")
    print(command("bench.backlog_depth"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
