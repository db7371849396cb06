"""Outpost on a Patroni cluster through a switchover and a killed leader, under steady sign-ups.

Run from the repository root:
`.venv/bin/python -m bench.patroni [--rate R] [--routes ...] [--faults ...]`.
Needs etcd, Patroni and HAProxy (Debian 12: `apt-get install etcd-server patroni haproxy`) and
PostgreSQL 15's binaries.

A private cluster (bench/patroni_cluster.py: one etcd, three Patroni nodes in synchronous mode,
HAProxy routing to the node answering `GET /primary`), `outpost migrate` through the route,
then two `outpost serve` and one `outbox-relay run` with `DATABASE_URL` through the route, and
an SMTP server (support/smtp_sink.py) as `SMTP_URL`. A pool of clients registers `--rate` new
addresses a second; `--before` seconds in, the fault: `patronictl switchover --force`, a
SIGKILL of the leader's PostgreSQL (Patroni lives on), or of its Patroni and PostgreSQL (the
machine gone: its Patroni starts again once another node leads); the sign-ups go on `--after`
seconds, and until the cluster is healthy again. Each route (HAProxy's one address, libpq's
multi-host URL with `target_session_attrs`) takes each fault. Then, once the relay sent
everything: every acknowledged (202) registration's account present and its mail received
exactly once (by recipient), answers by status (a 500 or a 503 without Retry-After fails the
bench), the outage (first non-2xx answer to the first 202 after it), the slowest answer and
the longest wait for a mail.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.common import command, machine
from bench.patroni_cluster import CHECK, DCS, Node, PatroniCluster
from bench.patroni_load import Fault, Outcome, SignUps, outcome
from support import processes
from support.ports import free_port
from support.smtp_sink import SinkServer

ROLE = DATABASE = "outpost"
BIN = Path(sys.executable).parent
SECRET_KEY = uuid.uuid4().hex
ROUTES = ("haproxy", "multi-host")


def switchover(cluster: PatroniCluster) -> None:
    """`patronictl switchover --force`: the leader hands over to a synchronous standby."""
    config = cluster.nodes[0].home / "patroni.yml"
    subprocess.run(
        ["/usr/bin/patronictl", "-c", config, "switchover", "--force"],
        capture_output=True,
        timeout=120,
        check=True,
    )


def kill_postgres(cluster: PatroniCluster) -> None:
    """SIGKILL the leader's PostgreSQL; its Patroni lives on."""
    leader = cluster.leader()
    assert leader is not None
    leader.kill_postgres()


def kill_node(cluster: PatroniCluster) -> Node:
    """SIGKILL the leader's Patroni, then its PostgreSQL, as when its machine dies; the node,
    to start again once another leads."""
    leader = cluster.leader()
    assert leader is not None and leader.process is not None
    leader.process.kill()
    leader.process.wait()
    leader.kill_postgres()
    return leader


# Each fault by its option's name: what the table calls it, and what it does.
FAULTS: dict[str, tuple[str, Callable[[PatroniCluster], Node | None]]] = {
    "switchover": ("switchover", switchover),
    "postgres": ("kill -9 of the leader's PostgreSQL", kill_postgres),
    "node": ("kill -9 of the leader's Patroni and PostgreSQL", kill_node),
}


def faulted(
    cluster: PatroniCluster, name: str, act: Callable[[PatroniCluster], Node | None], after: float
) -> Fault:
    """Do `act`, then watch the cluster for `after` seconds, or longer until it is healthy: who
    leads before and after, and when it was healthy again. A node `act` killed whole starts
    again once another leads (or at `after`), as a machine back from the dead would."""
    before, began = cluster.leader(), time.monotonic()
    dead, healed = act(cluster), None
    while healed is None or time.monotonic() < began + after:
        now = time.monotonic()
        if dead is not None and (cluster.leader() not in (None, dead) or now > began + after):
            cluster.start_node(dead)
            dead = None
        if healed is None and dead is None and cluster.healthy():
            healed = time.monotonic()
        if now > began + after + 300:
            raise AssertionError(f"not healthy 300 s on\n{cluster.members()}\n{cluster.logs()}")
        time.sleep(0.25)
    after_it = cluster.leader()
    names = (before.name if before else "none", after_it.name if after_it else "none")
    return Fault(name, names, began, healed - began)


def run_route(
    cluster: PatroniCluster, route: str, url: str, sink: SinkServer, args: argparse.Namespace
) -> list[Outcome]:
    """Migrate through `url`, start two APIs and a relay on it, and put it through each fault."""
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": sink.url(),
        "TRUSTED_PROXIES": "1",
        "RELAY_METRICS_PORT": "0",
        "WEB_CONCURRENCY": "2",
    }
    subprocess.run(
        [BIN / "outpost", "migrate"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=300,
    )
    home = cluster.base / route
    home.mkdir()
    ports = [free_port(), free_port()]
    started = [
        processes.start(
            [str(BIN / "outpost"), "serve"],
            {**env, "OUTPOST_BIND": f"127.0.0.1:{port}"},
            home,
            home / f"api{port}.log",
        )
        for port in ports
    ]
    started.append(
        processes.start([str(BIN / "outbox-relay"), "run"], env, home, home / "relay.log")
    )
    try:
        for port, api in zip(ports, started, strict=False):
            processes.wait_http(f"http://127.0.0.1:{port}/readyz", api, 60)
        done: list[Outcome] = []
        for name, act in (FAULTS[fault] for fault in args.faults):
            prefix = f"{route[:4]}{len(done)}-{uuid.uuid4().hex[:6]}-"
            with SignUps(ports, args.rate, prefix) as load:
                time.sleep(args.before)
                fault = faulted(cluster, name, act, args.after)
            done.append(outcome(route, fault, url, load, sink))
        return done
    finally:
        for process in started:
            processes.stop(process)


def main() -> int:
    """Build the cluster, run each route through each fault, print the table; 1 unless every
    fault held (no 500, nothing lost, nothing sent twice), and the logs kept then."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=10.0, help="registrations a second")
    parser.add_argument("--before", type=float, default=5.0, help="seconds before the fault")
    parser.add_argument("--after", type=float, default=30.0, help="seconds after it")
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    cluster, sink = PatroniCluster(), SinkServer()
    outcomes: list[Outcome] = []
    try:
        sink.start()  # first: its port is taken at once, not after the cluster's start
        cluster.start()
        with psycopg.connect(cluster.url("postgres", "postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE ROLE {ROLE} LOGIN")
            connection.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        urls = {
            "haproxy": cluster.url(DATABASE, ROLE),
            "multi-host": cluster.multi_host_url(DATABASE, ROLE),
        }
        for route in args.routes:
            outcomes += run_route(cluster, route, urls[route], sink, args)
    finally:
        sink.stop()
        processes.kill_leftovers()
        held = bool(outcomes) and all(one.held for one in outcomes)
        logs = cluster.stop(keep_logs=not held)
        if logs is not None:
            print(f"logs kept in {logs}", file=sys.stderr)
    show(outcomes, args, load_before)
    return 0 if held else 1


def show(outcomes: list[Outcome], args: argparse.Namespace, load_before: float) -> None:
    """The table, and what it was measured on."""
    print(f"{machine()}; load average {load_before:.1f} at the start, ", end="")
    print(f"{os.getloadavg()[0]:.1f} at the end")
    print(f"Patroni {DCS}, 3 nodes; HAProxy `option httpchk GET /primary`, `{CHECK}`")
    print(
        f"{args.rate:g} registrations a second, from {args.before:g} s before each fault ", end=""
    )
    print(f"to {args.after:g} s after it")
    columns = (
        "route",
        "fault",
        "leader",
        "answers by status",
        "202",
        "lost",
        "unsent",
        "sent twice",
        "saved, not 202",
        "outage: first non-2xx to a 202",
        "last non-2xx after the fault",
        "slowest answer",
        "longest wait for a mail",
        "healthy again",
    )
    print(f"| {' | '.join(columns)} |")
    print("|---" * len(columns) + "|")
    for one in outcomes:
        statuses = ", ".join(f"{k or 'none'}: {n}" for k, n in sorted(one.statuses.items()))
        cells = (
            one.route,
            one.fault.name,
            " → ".join(one.fault.leaders),
            statuses,
            one.acknowledged,
            one.lost,
            one.unsent,
            one.twice,
            one.saved_unacknowledged,
            *(seconds(value) for value in (one.outage, one.last_failure, one.slowest)),
            seconds(one.mail_gap),
            seconds(one.fault.healed),
        )
        print(f"| {' | '.join(map(str, cells))} |")
    bad = [f"{one.route}, {one.fault.name}" for one in outcomes if not one.held]
    verdict = f"FAILED: {'; '.join(bad)}" if bad else "every fault held"
    print(f"verdict: {verdict} (no 500, no 503 without Retry-After, none lost, none sent twice)")
    print(command("bench.patroni"))


def seconds(value: float | None) -> str:
    """A time in the table, to a tenth of a second ("-" for none)."""
    return "-" if value is None else f"{value:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
