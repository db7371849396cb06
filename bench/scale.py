"""What a sign-up and its message cost PostgreSQL, to size Outpost past one machine.

Run from the repository root: `.venv/bin/python -m bench.scale [--seconds S] [--messages M]`.

Two cores shared by the API, the relays and PostgreSQL measure contention, not scale-out, so
this bench measures what each unit of work costs a private PostgreSQL 15 cluster
(support/private_postgres.py; pg_stat_statements, full-page writes and synchronous commit on)
and extrapolates from that:

- sign-ups: `--clients` clients register for `--seconds` through gunicorn, no relay running;
- a backlog: one `outbox-relay run` (default settings) sends their messages and welcome
  emails up to `--backlog`;
- 4 relays on the same database draining `--messages` emails queued in one go (the relay that
  listens woken by the NOTIFY, the 3 standing by at their next poll);
- a peak: `--messages` emails queued one at a time, PEAK a second, for 1 relay, then for 4
  (each NOTIFY wakes the one that listens): claims a message and PostgreSQL's CPU a message of
  4 relays against 1's (issue 36, item 1: at most 1.2 claims and 1.3 times).

Each relay signs with its own MAIL_FROM domain and the SMTP server (bench/receipts.py) writes
each Message-ID it gets: a message received twice or never fails the bench. PostgreSQL's CPU is
the cluster's processes' (ended ones included, the bench's own backends left out), in clock
ticks from /proc, so a unit's cost holds while other work shares the machine; the WAL is the
LSN's advance less the bench's own statements'; the statements are Outpost's role's.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text

from bench.common import command, listening_process, machine, pending, served
from bench.cpu import TICKS_PER_SECOND, processes, tree_ticks
from bench.receipts import Tally, tally
from bench.register import load
from bench.relay_drain import wait_for
from shared.database.db import create_engine_for, migrate
from shared.database.models import outbox
from shared.settings.database_url import normalise_database_url
from support import processes as running
from support.bulk import queue_emails
from support.constants import SECRET_KEY
from support.private_postgres import PrivatePostgres

ROLE = DATABASE = "outpost"
RELAYS = 4
DAILY, PEAK = 1_000_000, 100.0
# One relay's drain rate (RELAY_CONCURRENCY=32) against a provider taking 100 or 300 ms a
# message: bench/provider_latency.py, bench/README.md, 2026-11-22.
PROVIDER_RATES = ((100, 219.0), (300, 76.0))
CLUSTER = {
    "shared_preload_libraries": "'pg_stat_statements'",
    "track_io_timing": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "max_connections": "200",
}
# Outpost's statements, those that differ only in the length of a list of parameters as one.
STATEMENTS = text(
    "SELECT q, sum(calls)::bigint, sum(rows)::bigint, sum(total_exec_time), "
    "sum(shared_blks_hit + shared_blks_read)::bigint, sum(wal_bytes)::bigint FROM ("
    "  SELECT regexp_replace(regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), "
    "  '\\$\\d+(, \\$\\d+)*', '$…', 'g'), '::[A-Z]+( [A-Z]+)*', '', 'g') AS q, * "
    "  FROM pg_stat_statements"
    "  WHERE userid = CAST(:role AS regrole)) AS s GROUP BY q ORDER BY 4 DESC"
)
# The WAL of the bench's own statements (queueing the paced messages).
BENCH_WAL = (
    "SELECT coalesce(sum(wal_bytes), 0) FROM pg_stat_statements "
    "WHERE userid <> CAST(:role AS regrole)"
)
CLAIM = "FOR UPDATE SKIP LOCKED"
# What a relay logs once it listens, or stands by while another does.
AWAKE = ("listening for new messages", "another relay listens; standing by")
USERS = "SELECT count(*) FROM users"


@dataclass(frozen=True)
class Statement:
    """One statement's totals over a measure, from pg_stat_statements."""

    query: str
    calls: int
    rows: int
    milliseconds: float
    blocks: int  # shared blocks hit or read
    wal_bytes: int


@dataclass(frozen=True)
class Cost:
    """What `units` sign-ups or messages cost, in all."""

    units: int
    postgres_ticks: int
    own_ticks: int  # the API's or the relays'
    wal_bytes: int
    connections: int
    statements: list[Statement]

    def ms(self, ticks: int) -> float:
        """CPU milliseconds a unit."""
        return ticks / TICKS_PER_SECOND / self.units * 1000


class Cluster:
    """Outpost's database in a private cluster, watched by its superuser."""

    def __init__(self, server: PrivatePostgres) -> None:
        self.server = server
        self.url = normalise_database_url(f"postgresql://{ROLE}@127.0.0.1:{server.port}/{DATABASE}")
        admin = create_engine_for(server.sqlalchemy_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE ROLE {ROLE} LOGIN"))
            connection.execute(text(f"CREATE DATABASE {DATABASE} OWNER {ROLE}"))
        admin.dispose()
        migrate(self.url)
        self.engine = create_engine_for(f"{server.sqlalchemy_url.rpartition('/')[0]}/{DATABASE}")
        self.value("CREATE EXTENSION pg_stat_statements")

    def value(self, statement: str) -> int:
        """The first column of a statement's first row as a whole number (0 if none), committed."""
        with self.engine.begin() as connection:
            result = connection.execute(text(statement), {"role": ROLE})
            return int(result.scalar() or 0) if result.returns_rows else 0

    def ticks(self) -> int:
        """CPU ticks of the cluster's processes so far, but for the bench's own backends (its
        superuser's, kept open by its pool)."""
        bench = sum(
            one.ticks
            for one in processes().values()
            if one.parent == self.server.postmaster
            and one.command.startswith("postgres: postgres ")
        )
        return tree_ticks(self.server.postmaster) - bench

    def start(self) -> tuple[int, int]:
        """Begin a measure, statistics reset: the cluster's CPU ticks and WAL position."""
        self.value("SELECT pg_stat_statements_reset()")
        return self.ticks(), self.value("SELECT pg_current_wal_lsn() - '0/0'")

    def since(self, start: tuple[int, int], units: int, own_ticks: int) -> Cost:
        """What was spent since `start` on `units` units, the process(es) measured `own_ticks`."""
        ticks = self.ticks() - start[0]
        wal = self.value("SELECT pg_current_wal_lsn() - '0/0'") - start[1]
        with self.engine.begin() as connection:
            statements = [Statement(*row) for row in connection.execute(STATEMENTS, {"role": ROLE})]
        connections = self.value("SELECT count(*) FROM pg_stat_activity WHERE usename = :role")
        wal -= self.value(BENCH_WAL)
        return Cost(units, ticks, own_ticks, wal, connections, statements)

    def sent(self) -> int:
        return self.value("SELECT count(*) FROM outbox WHERE status = 'sent'")


def sign_ups(cluster: Cluster, seconds: float, clients: int) -> Cost:
    """Registrations through gunicorn for `seconds`; what they cost PostgreSQL and the API."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-scale-"))
    env = {"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET_KEY, "TRUSTED_PROXIES": "1"}
    with served(env, workdir) as port:
        here = os.getpid()
        api = next(pid for pid, one in processes().items() if one.parent == here)
        asyncio.run(load(port, clients, 1.0, "warm"))  # each worker's pool connects
        cluster.value("CHECKPOINT")
        start, api_ticks = cluster.start(), tree_ticks(api)
        answers, _ = asyncio.run(load(port, clients, seconds, "scale"))
        return cluster.since(start, len(answers), tree_ticks(api) - api_ticks)


def deliver(
    cluster: Cluster, relays: int, workdir: Path, name: str, queue: Callable[[], list[str]]
) -> tuple[Cost, Tally]:
    """`relays` relays send what is pending and what `queue` queues once they all listen (its
    public ids): what a message costs PostgreSQL (from before they start) and the relays (from
    when they listen, their start-up left out), and the tally of what the SMTP server got."""
    with cluster.engine.connect() as connection:
        due = outbox.c.status == "pending"
        queued = list(connection.execute(select(outbox.c.public_id).where(due)).scalars())
    receipts = workdir / f"{name}.txt"
    cluster.value("CHECKPOINT")
    with listening_process(lambda port: ["-m", "bench.receipts", str(port), str(receipts)]) as port:
        start, sent, started = cluster.start(), cluster.sent(), []
        for n in range(relays):
            home = workdir / f"{name}{n}"
            home.mkdir()
            env = {
                "DATABASE_URL": cluster.url,
                "SECRET_KEY": SECRET_KEY,
                "SMTP_URL": f"smtp://127.0.0.1:{port}",
                "MAIL_FROM": f"Outpost <no-reply@relay{n}.test>",  # names its Message-IDs
                "RELAY_METRICS_PORT": "0",
            }
            started.append(running.relay(env, home))
            log = (home / "relay.log").read_text
            wait_for(lambda: any(line in log() for line in AWAKE), started[-1], 0.01)  # noqa: B023
        try:
            ready = sum(tree_ticks(relay.pid) for relay in started)
            queued += queue()
            running.eventually(lambda: not pending(cluster.engine), 300, f"{name} sent")
            own = sum(tree_ticks(relay.pid) for relay in started) - ready
            cost = cluster.since(start, cluster.sent() - sent, own)
        finally:
            for relay in started:
                running.stop(relay)
    return cost, tally(queued, receipts.read_text().splitlines())


def paced(cluster: Cluster, count: int, prefix: str) -> list[str]:
    """`count` emails queued one at a time, PEAK a second, each in a transaction of its own."""
    queued, began = [], time.perf_counter()
    for n in range(count):
        time.sleep(max(0.0, began + n / PEAK - time.perf_counter()))
        queued += queue_emails(cluster.engine, 1, prefix=f"{prefix}{n}-")
    return queued


def main() -> int:
    """Measure, print the figures, the sizing they give and the command; 1 unless every
    message was received exactly once."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="of sign-ups")
    parser.add_argument("--clients", type=int, default=2, help="registering at once")
    parser.add_argument("--backlog", type=int, default=5000, help="drained by one relay")
    parser.add_argument("--messages", type=int, default=1500, help="paced, for 1 and 4 relays")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    workdir = Path(tempfile.mkdtemp(prefix="outpost-scale-"))
    with PrivatePostgres(CLUSTER) as server:
        cluster = Cluster(server)
        try:
            write = sign_ups(cluster, args.seconds, args.clients)
            per_sign_up = cluster.value("SELECT count(*) FROM outbox") / cluster.value(USERS)
            # The sign-ups' messages, and welcome emails up to --backlog.
            queue_emails(cluster.engine, max(0, args.backlog - cluster.value(USERS)))
            drain = deliver(cluster, 1, workdir, "drain", list)
            burst = deliver(
                cluster,
                RELAYS,
                workdir,
                "burst",
                lambda: queue_emails(cluster.engine, args.messages),
            )
            at_peak = {
                n: deliver(
                    cluster, n, workdir, f"peak{n}", lambda: paced(cluster, args.messages, "p")
                )
                for n in (1, RELAYS)
            }
        finally:
            cluster.engine.dispose()

    print(
        f"{machine()}; load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(f"PostgreSQL 15, private cluster, {', '.join(f'{k}={v}' for k, v in CLUSTER.items())}")
    show(f"sign-ups through gunicorn (2 workers), {args.clients} clients", write, "the API")
    show("a backlog (their messages, then welcome emails) sent by one relay", drain[0], "relay")
    show(f"{RELAYS} relays draining {args.messages} messages queued at once", burst[0], "relays")
    for n, (cost, _) in at_peak.items():
        show(f"{n} relay(s), a message queued every {1000 / PEAK:g} ms", cost, "relays")
    tallies = {
        "one relay, a backlog": drain[1],
        f"{RELAYS} relays, a backlog": burst[1],
        **{f"{n} relay(s) at peak": one for n, (_, one) in at_peak.items()},
    }
    for name, counted in tallies.items():
        shares = ", ".join(f"{domain} {n}" for domain, n in sorted(counted.by_relay.items()))
        verdict = "exactly once" if counted.exactly_once else "FAILED"
        print(
            f"{name}: received by Message-ID: {shares}; lost {counted.lost}, more than once "
            f"{counted.twice}, unknown {counted.strays}: {verdict}"
        )
    size(write, {n: cost for n, (cost, _) in at_peak.items()}, per_sign_up)
    many_relays(at_peak[1][0], at_peak[RELAYS][0])
    print(command("bench.scale"))
    return 0 if all(one.exactly_once for one in tallies.values()) else 1


def show(name: str, cost: Cost, own: str) -> None:
    """One measure's figures, a unit at a time, and its costliest statements."""
    executed = sum(one.milliseconds for one in cost.statements)
    cpu = cost.ms(cost.postgres_ticks)
    print(f"{name}: {cost.units}")
    print(
        f"  CPU a unit: PostgreSQL {cpu:.2f} ms, {own} {cost.ms(cost.own_ticks):.2f} ms; WAL "
        f"{cost.wal_bytes / cost.units:,.0f} bytes; connections held {cost.connections}"
    )
    print(
        f"  statements of Outpost's role: {executed / cost.units:.3f} ms executing a unit, wall "
        f"clock ({executed / cost.units / cpu:.0%} of PostgreSQL's CPU); the costliest:"
    )
    for one in cost.statements[:7]:
        print(
            f"    {one.milliseconds / executed:4.0%}  {one.calls / cost.units:5.2f} calls a unit, "
            f"{one.rows / max(one.calls, 1):5.1f} rows, {one.milliseconds / one.calls:.3f} ms, "
            f"{one.blocks / one.calls:5.1f} blocks a call; WAL {one.wal_bytes / cost.units:5.0f} "
            f"bytes a unit: {'the claim: ' if CLAIM in one.query else ''}{one.query[:50]}"
        )


def claims(cost: Cost) -> float:
    """Claims a unit: the calls of the claim's statement(s)."""
    return sum(one.calls for one in cost.statements if CLAIM in one.query) / cost.units


def many_relays(one: Cost, many: Cost) -> None:
    """Issue 36's item 1: claims a message and PostgreSQL's CPU a message, RELAYS against 1."""
    cpu = one.ms(one.postgres_ticks), many.ms(many.postgres_ticks)
    print(
        f"{RELAYS} relays against 1 at peak: {claims(many):.2f} claims a message against "
        f"{claims(one):.2f} (target: at most 1.2); PostgreSQL's CPU a message {cpu[1]:.2f} ms "
        f"against {cpu[0]:.2f}, {cpu[1] / cpu[0]:.2f} times (target: at most 1.3)"
    )


def size(write: Cost, paced: dict[int, Cost], messages: float) -> None:
    """The sizing for DAILY sign-ups a day and PEAK a second, from these figures."""
    api, mean = write.ms(write.own_ticks), DAILY / 86400
    print(
        f"sizing for {DAILY:,} sign-ups a day ({mean:.1f}/s on average), a peak of {PEAK:g}/s, "
        f"{messages:.2f} messages a sign-up:"
    )
    print(
        f"  API: {api:.1f} ms of CPU a sign-up (argon2id most of it), {api * PEAK / 1000:.1f} "
        f"cores at peak; {write.connections / 2:.1f} connections a gunicorn worker"
    )
    for n, cost in paced.items():
        postgres = write.ms(write.postgres_ticks) + cost.ms(cost.postgres_ticks) * messages
        wal = write.wal_bytes / write.units + cost.wal_bytes / cost.units * messages
        claimed = [one for one in cost.statements if CLAIM in one.query]
        executed = sum(one.milliseconds for one in cost.statements)
        print(
            f"  with {n} relay(s): PostgreSQL {postgres:.2f} ms of CPU a sign-up, "
            f"{postgres * PEAK / 1000:.2f} cores at peak ({postgres * mean / 1000:.2f} on "
            f"average); WAL {wal * PEAK / 1e6:.2f} MB/s at peak, {wal * DAILY / 1e9:.1f} GB a "
            f"day; {claims(cost):.1f} claims a message, "
            f"{sum(one.milliseconds for one in claimed) / executed:.0%} of the statements' time; "
            f"the relays {cost.ms(cost.own_ticks):.2f} ms of CPU a message; "
            f"{cost.connections / n:.1f} connections a relay"
        )
    fleet = ", ".join(
        f"{math.ceil(PEAK * messages / rate)} at {delay} ms ({rate:g}/s each)"
        for delay, rate in PROVIDER_RATES
    )
    print(f"  relays a provider's latency asks for at peak: {fleet}")


if __name__ == "__main__":
    sys.exit(main())
