"""From commit to the SMTP server's receipt, and from that receipt to the outcome in the row,
under 50 registrations a second for 30 s.

Run from the repository root: `.venv/bin/python -m bench.latency [--rate R] [--seconds S]`.

gunicorn and `outbox-relay run` (LISTEN/NOTIFY) on PostgreSQL; the SMTP server
(bench/receipts.py) runs in a process of its own and writes when each message arrived. The
commit is bracketed: a deferred trigger the bench adds to its own database notes the time as
the registering transaction commits, just before its commit record is written (so that figure
overstates by the commit's own flush), and the client's receipt of the 202 comes after the
commit (so that one understates). The outcome's lag is the row's `sent_at` (the relay's clock
as it writes the outcome; the same machine's) less the receipt, which the server answers `250`
at once: what `GET /v1/deliveries` trails the mail by. The relay's CPU a message is its
process's, every thread, from /proc over the load and until every outcome is written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text

from bench.common import (
    api_and_relay,
    client_address,
    command,
    listening_process,
    machine,
    pending,
    postgres_database,
)
from bench.cpu import TICKS_PER_SECOND, cpu_ticks
from shared.database.db import create_engine_for
from support import processes

PASSWORD = "correct horse battery staple"
MAIL_DOMAIN = "outpost.test"


def main() -> int:
    """Offer the load, then print the latency percentiles and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="outpost-latency-"))
    answered: dict[str, float] = {}
    receipts = workdir / "receipts.txt"
    # Not lowered in priority: it timestamps each arrival, which must not wait for a core.
    with (
        listening_process(
            lambda port: ["-m", "bench.receipts", str(port), str(receipts)], nice=0
        ) as smtp_port,
        postgres_database("outpost_latency") as url,
    ):
        note_commits(url)
        with api_and_relay(
            url, f"smtp://127.0.0.1:{smtp_port}", MAIL_FROM=f"Outpost <no-reply@{MAIL_DOMAIN}>"
        ) as api_port:
            before = cpu_ticks(own=True)
            statuses = offer(f"http://127.0.0.1:{api_port}", args.rate, args.seconds, answered)
            expected = statuses.count(202)
            processes.eventually(
                lambda: len(receipts.read_text().splitlines()) >= expected, 60, "receipts"
            )
            # The outcomes too, before the relay stops (which writes what still waits).
            engine = create_engine_for(url)
            processes.eventually(lambda: pending(engine) == 0, 10, "outcomes")
            engine.dispose()
            relay_seconds = (cpu_ticks(own=True) - before)["relay"] / TICKS_PER_SECOND
        committed = commit_times(url)
        written = sent_times(url)

    latencies, after_answer, outcome_lag = [], [], []
    for line in receipts.read_text().splitlines():
        arrived, message_id = line.split(" ", 1)
        public_id = message_id.strip("<>").split("@")[0]
        latencies.append((float(arrived) - committed[public_id]) * 1000)
        after_answer.append((float(arrived) - answered[public_id]) * 1000)
        outcome_lag.append((written[public_id] - float(arrived)) * 1000)
    print(machine())
    print(
        f"offered: {args.rate:g} registrations/s for {args.seconds:g} s; answered 202: "
        f"{expected} of {len(statuses)}; messages received: {len(latencies)}"
    )
    print(f"committing → SMTP receipt (overstates commit → receipt): {percentiles(latencies)}")
    print(f"client got 202 → SMTP receipt (understates it):         {percentiles(after_answer)}")
    print(f"SMTP receipt → outcome in the row (sent_at):             {percentiles(outcome_lag)}")
    print(
        f"the relay's CPU a message, every thread, idle polls included: "
        f"{relay_seconds / len(latencies) * 1000:.2f} ms"
    )
    print(command("bench.latency"))
    return 0


def percentiles(values: list[float]) -> str:
    """p50, p99 and max of milliseconds."""
    ordered = sorted(values)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


def offer(base: str, rate: float, seconds: float, answered: dict[str, float]) -> list[int]:
    """Registrations started on a fixed schedule, whatever the answers take (open loop)."""
    count = int(rate * seconds)
    statuses: list[int] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        status, body, _ = processes.post_json(
            f"{base}/v1/registrations",
            {"email": f"late{n}@example.com", "password": PASSWORD},
            {"X-Forwarded-For": client_address()},
        )
        with lock:
            statuses.append(status)
            if status == 202:
                answered[body["delivery"]["id"]] = time.time()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    return statuses


# Bench-only instrumentation, in the bench's own database: a constraint trigger deferred to
# the commit notes the time of each outbox row's commit.
NOTE_COMMITS = [
    "CREATE TABLE bench_commits (public_id varchar(36) PRIMARY KEY, at timestamptz NOT NULL)",
    """CREATE FUNCTION bench_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO bench_commits VALUES (NEW.public_id, clock_timestamp());
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER bench_note_commit AFTER INSERT ON outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_note_commit()""",
]


def note_commits(url: str) -> None:
    """Add the commit-noting trigger to the bench's database."""
    engine = create_engine_for(url)
    with engine.begin() as connection:
        for statement in NOTE_COMMITS:
            connection.execute(text(statement))
    engine.dispose()


def commit_times(url: str) -> dict[str, float]:
    """Each message's commit time, as epoch seconds, by public id."""
    engine = create_engine_for(url)
    with engine.connect() as connection:
        found = {
            public_id: at.timestamp()
            for public_id, at in connection.execute(text("SELECT public_id, at FROM bench_commits"))
        }
    engine.dispose()
    return found


def sent_times(url: str) -> dict[str, float]:
    """When the relay wrote each message's `sent`, as epoch seconds, by public id."""
    engine = create_engine_for(url)
    with engine.connect() as connection:
        found = {
            public_id: at.timestamp()
            for public_id, at in connection.execute(
                text("SELECT public_id, sent_at FROM outbox WHERE sent_at IS NOT NULL")
            )
        }
    engine.dispose()
    return found


if __name__ == "__main__":
    sys.exit(main())
