"""What each route, page and command costs as the database grows: S = 100k, M = 1M, L = 10M
messages, with their accounts, codes, attempts, receipts, suppressions, throttle rows and audit
in proportion (bench/scale_rows.py), on PostgreSQL 15.

Run from the repository root: `.venv/bin/python -m bench.scale_data [--sizes S,M,L]`.

One private cluster (support/private_postgres.py; shared_buffers 2 GB, synchronous commit and
full-page writes on) grows from one size to the next by SQL; at each size the bench times, in
milliseconds, the fastest of `--samples` runs after two to warm up (the machine is shared):

- every admin route and dashboard page, and GET /v1/deliveries/{id} and the API's /metrics,
  through the app in process (Flask's test client: the app gunicorn runs, without the socket);
- support's lookup of an address (its accounts and its messages, what /admin/lookup reads) in
  process: the bench's addresses (`@scale.test`, `+1555…`) are no address the API takes;
- the relay's metrics: what its report reads every 5 s (shared/operations/tallies.py folded,
  the backlog, the suppressions, the dead letters), which its /metrics then serves;
- `outbox-relay stats`, a process started as an operator starts it, and operations.stats alone;
- the relay's claim of 100 rows (and their release) with 2,000 messages queued on top, then
  the drain of those 2,000 by one relay to a local SMTP sink (messages a second);
- a registration through gunicorn (p50 and p95 of `--registrations`, one at a time), then
  again while retention purges the oldest day (purge run one day ahead, in a process of its
  own), the purge running and waiting in turns of 5 s (bench/purge_beside.py): the p50 and p95
  of the registrations of either turn, p95 ran ÷ waited with its 95 % bootstrap interval, the
  purge's CPU and rows a second (its rests in, its waits out); the vacuum of the outbox and its
  attempts that autovacuum would run next, timed, and the WAL each wrote, a message purged;
  then the same comparison beside a neighbour that uses as much CPU as the purge and touches
  no database: what any process of that size costs the registrations on this machine.
  With `--purges N`, N such purges at each size, each of the next oldest day; the table keeps
  the first, each is printed.

Sizes are timed minutes apart, and this machine's speed drifts by 10 to 20 % in that time
(bench/README.md, stop 58): so a second cluster, grown to the first size and kept, is timed
beside each size in turn, ROUNDS times, and each operator figure is also given as this size
over the first, timed side by side (the first size over itself: what the method reads from
chance).

It prints, at each size, the bytes a message of each table that grows with them (indexes
included), then the growth table (each size, and the last over the first), and with `--explain` the
EXPLAIN (ANALYZE, BUFFERS) of every statement over 5 ms of the operator figures at the last size
(auto_explain, on for that pass alone).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta

from sqlalchemy import Engine, text

from api_service import create_app
from bench import scale_rows
from bench.common import aiosmtpd_sink, command, machine
from bench.purge_beside import registrations_and_purge
from bench.scale import CLUSTER as COST_CLUSTER
from bench.scale import Cluster
from outbox_relay import claims, releases
from outbox_relay.bootstrap import build_relay
from outbox_relay.daemon import Daemon
from outbox_relay.relay import Relay
from outbox_relay.wake import Wake
from shared import operations
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.settings.config import Settings
from support.bulk import queue_emails
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.dashboard import sign_in
from support.private_postgres import PrivatePostgres

SIZES = {"S": 100_000, "M": 1_000_000, "L": 10_000_000}
CLUSTER = {
    **COST_CLUSTER,
    "shared_preload_libraries": "'pg_stat_statements,auto_explain'",
    "shared_buffers": "2GB",
    "max_wal_size": "8GB",
}
DRAIN = 2_000
# Turns of the side-by-side timing of each size against the first.
ROUNDS = 3
# A dead letter of the bench's data, by number (bench/scale_rows.py; kept 30 days), and how far
# back from the last message the newest sent one is (the oldest ones are purged).
DEAD, SENT_BACK = 91, 20
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Operator figures: issue 51 asks each to stay within 1.5 times its S value.
OPERATOR = (
    "GET /v1/admin/stats",
    "dashboard /admin/",
    "dashboard /admin/dead",
    "outbox-relay stats (in process)",
    "relay report (its /metrics)",
    "GET /metrics (API)",
    "lookup of an address (in process)",
)


def size_of(label: str) -> int:
    """The messages of size `label`: S, M, L, or a number (a quick run)."""
    return SIZES[label] if label in SIZES else int(label)


def public_id(n: int) -> str:
    """The public id bench/scale_rows.py gives message n."""
    return str(uuid.UUID(hashlib.md5(f"m{n}".encode()).hexdigest()))


def fastest_ms(call: Callable[[], object], samples: int) -> float:
    """The fastest of `samples` calls, in ms, after two to warm up: on a machine other work
    shares, what the call itself costs (a median moved with the neighbours' load)."""
    for _ in range(2):
        call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def pages(env: dict[str, str], samples: int, grown: int, *, check: bool = True) -> dict[str, float]:
    """The admin routes, the dashboard's pages and the client's routes, in process, with
    `grown` messages; an answer other than 200 is printed (unless not `check`), its time kept
    (a 503: the API's bound)."""
    app = create_app({**env, "ADMIN_TOKEN": ADMIN_TOKEN})
    api, dashboard = app.test_client(), app.test_client()
    assert sign_in(dashboard).status_code == 303
    dead, sent = public_id(DEAD), public_id(grown - SENT_BACK)
    routes = {
        "GET /v1/admin/stats": (api, "/v1/admin/stats"),
        "GET /v1/admin/dead-letters": (api, "/v1/admin/dead-letters"),
        "GET /v1/admin/dead-letters/{id}": (api, f"/v1/admin/dead-letters/{dead}"),
        "GET /v1/admin/stranded": (api, "/v1/admin/stranded"),
        "GET /v1/admin/suppressions": (api, "/v1/admin/suppressions"),
        "GET /v1/admin/audit": (api, "/v1/admin/audit"),
        "GET /v1/deliveries/{id}": (api, f"/v1/deliveries/{sent}"),
        "GET /metrics (API)": (api, "/metrics"),
        "dashboard /admin/": (dashboard, "/admin/"),
        "dashboard /admin/dead": (dashboard, "/admin/dead"),
        "dashboard /admin/dead/{id}": (dashboard, f"/admin/dead/{dead}"),
        "dashboard /admin/stranded": (dashboard, "/admin/stranded"),
        "dashboard /admin/suppressions": (dashboard, "/admin/suppressions"),
    }

    def get(client: object, path: str) -> Callable[[], object]:
        def call() -> object:
            answer = client.get(path, headers=ADMIN)  # type: ignore[attr-defined]
            if answer.status_code != 200 and check:
                print(f"{path} answered {answer.status_code}", flush=True)
            return answer

        return call

    return {name: fastest_ms(get(client, path), samples) for name, (client, path) in routes.items()}


def operator(
    env: dict[str, str], settings: Settings, samples: int, grown: int, *, process: bool = True
) -> dict[str, float]:
    """`outbox-relay stats` as a process (unless not `process`) and in process, the relay's
    report, and the lookup of the address of message `grown - SENT_BACK`."""
    engine = create_engine_for(settings.database_url)
    relay = build_relay(settings, engine)
    try:
        daemon = Daemon(relay, Wake())

        def stats() -> object:
            with engine.connect() as connection:
                return operations.stats(connection, utcnow())

        def lookup() -> object:
            with engine.connect() as connection:
                return operations.look_up(connection, f"u{(grown - SENT_BACK) // 2}@scale.test")

        def cli() -> object:
            cli_command = [sys.executable, "-m", "outbox_relay.cli", "stats"]
            return subprocess.run(cli_command, env=env, check=True, capture_output=True)

        started = {"outbox-relay stats (process)": fastest_ms(cli, 3)} if process else {}
        return started | {
            "outbox-relay stats (in process)": fastest_ms(stats, samples),
            "relay report (its /metrics)": fastest_ms(daemon.report, samples),
            "lookup of an address (in process)": fastest_ms(lookup, samples),
        }
    finally:
        relay.close()
        engine.dispose()


@contextmanager
def relay_on(settings: Settings) -> Iterator[tuple[Engine, Relay]]:
    """A relay in process, as the daemon builds it, and its engine; closed after."""
    engine = create_engine_for(settings.database_url)
    relay = build_relay(settings, engine)
    try:
        yield engine, relay
    finally:
        relay.close()
        engine.dispose()


def claims_and_drain(settings: Settings, label: str, samples: int) -> dict[str, float]:
    """A claim of 100 with DRAIN messages queued on top, then their drain by one relay."""
    with relay_on(settings) as (engine, relay):
        queue_emails(engine, DRAIN, prefix=f"drain-{label}-", domain="scale.test")
        with closing(claims.Claimer(engine)) as claimer:

            def claim() -> None:
                rows = claimer.claim(now=utcnow(), limit=100, lease_seconds=60)
                releases.release(engine, rows, utcnow() - timedelta(seconds=1))

            claimed = fastest_ms(claim, samples)
        started = time.perf_counter()
        sent = relay.drain()
        rate = sent / (time.perf_counter() - started)
    return {"relay claim of 100": claimed, "drain of 2,000 (messages/s)": rate}


def deliver_queued(settings: Settings) -> int:
    """Deliver what the registrations queued, as a service's relays would have; how many.
    Left due, it is a backlog the next size's figures would count (bench/README.md, run L)."""
    with relay_on(settings) as (_, relay):
        return relay.drain()


def side_by_side(
    first: tuple[dict[str, str], int], grown: tuple[dict[str, str], int], samples: int
) -> dict[str, float]:
    """Each operator figure with `grown` messages over the same with the first size's, both
    timed in turns, ROUNDS times; each the fastest of them all. `first` and `grown`: a
    cluster's environment and its messages."""
    fastest: list[dict[str, float]] = [{}, {}]
    for _ in range(ROUNDS):
        for times, (env, messages) in zip(fastest, (first, grown), strict=True):
            settings = Settings.from_env(env)
            figures = pages(env, samples, messages) | operator(
                env, settings, samples, messages, process=False
            )
            for name in OPERATOR:
                times[name] = min(times.get(name, figures[name]), figures[name])
    before, after = fastest
    return {
        f"{name} ÷ the first size, side by side": after[name] / before[name] for name in OPERATOR
    }


def main() -> int:
    """Grow, measure at each size, print the growth table and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="S,M", help="of S, M, L (or numbers), in order")
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--registrations", type=int, default=40)
    parser.add_argument("--purges", type=int, default=1, help="purges beside registrations")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the relay's line a message
    sizes = args.sizes.split(",")
    figures: dict[str, dict[str, float]] = {}
    took: dict[str, float] = {}
    with (
        PrivatePostgres(CLUSTER) as server,
        PrivatePostgres(CLUSTER) as kept,
        aiosmtpd_sink() as smtp,
    ):
        cluster, reference = Cluster(server), Cluster(kept)
        env = {"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET_KEY}
        env |= {"SMTP_URL": f"smtp://127.0.0.1:{smtp}", "PATH": "/usr/bin:/bin"}
        settings = Settings.from_env(env)
        first = ({**env, "DATABASE_URL": reference.url}, size_of(sizes[0]))
        scale_rows.grow(reference.engine, 0, first[1], utcnow())
        grown = 0
        for label in sizes:
            started = time.perf_counter()
            scale_rows.grow(cluster.engine, grown, size_of(label), utcnow())
            grown, took[label] = size_of(label), time.perf_counter() - started
            figures[label] = {
                **pages(env, args.samples, grown),
                **operator(env, settings, args.samples, grown),
                **side_by_side(first, (env, grown), args.samples),
                **claims_and_drain(settings, label, args.samples),
            }
            for day in range(1, args.purges + 1):
                beside = registrations_and_purge(
                    env,
                    f"{label}{day}",
                    args.registrations,
                    cluster.engine,
                    utcnow() + timedelta(days=day),
                )
                print(f"{label}: purge {day} of {args.purges}: {beside}", flush=True)
                if day == 1:
                    figures[label] |= beside
            print(f"{label}: delivered {deliver_queued(settings)} queued meanwhile", flush=True)
            print(f"{label}: grown in {took[label]:.0f} s; {figures[label]}", flush=True)
            bytes_each = scale_rows.footprint(cluster.engine, grown)
            print(
                f"{label}: bytes a message: "
                + ", ".join(f"{table} {size:,.0f}" for table, size in bytes_each.items())
                + f"; all {sum(bytes_each.values()):,.0f}",
                flush=True,
            )
        if args.explain:
            explain(server, cluster, env, grown)
        cluster.engine.dispose()
        reference.engine.dispose()
    print(machine())
    table(figures, sizes, took)
    print(command("bench.scale_data"))
    return 0


def explain(server: PrivatePostgres, cluster: Cluster, env: dict[str, str], grown: int) -> None:
    """The plans of the operator figures' statements over 5 ms, from auto_explain."""
    settings = {
        "auto_explain.log_min_duration": "'5ms'",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_buffers": "on",
    }
    with cluster.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        for name, value in settings.items():
            admin.execute(text(f"ALTER SYSTEM SET {name} = {value}"))
        admin.execute(text("SELECT pg_reload_conf()"))
        before = len(server.log_text())
        pages(env, 1, grown, check=False)
        print("plans over 5 ms:\n" + server.log_text()[before:])
        for name in settings:
            admin.execute(text(f"ALTER SYSTEM RESET {name}"))
        admin.execute(text("SELECT pg_reload_conf()"))


def table(figures: dict[str, dict[str, float]], sizes: list[str], took: dict[str, float]) -> None:
    """The growth table: each figure at each size and the last size's over the first's."""
    first, last = sizes[0], sizes[-1]
    header = " | ".join(f"{label} ({size_of(label):,})" for label in sizes)
    print(f"| what | {header} | {last}/{first} |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for name in figures[first]:
        places = 3 if "÷" in name or "share" in name else 1
        cells = " | ".join(f"{figures[label][name]:,.{places}f}" for label in sizes)
        ratio = figures[last][name] / figures[first][name] if figures[first][name] else 0.0
        flag = " (operator figure)" if name in OPERATOR else ""
        print(f"| {name}{flag} | {cells} | {ratio:.2f} |")
    print("grown in: " + ", ".join(f"{label} {took[label]:.0f} s" for label in sizes))


if __name__ == "__main__":
    sys.exit(main())
