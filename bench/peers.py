"""Outpost beside "a job queue plus our own code": PgQueuer and procrastinate sending the same
activation mail to the same SMTP server, each job committed in the transaction of its user row.

Run from the repository root, with the `bench` extra (`pip install -e '.[dev]'`):
`.venv/bin/python -m bench.peers [--messages N] [--rate R] [--seconds S] [--rounds K]`.

Each round runs a bare smtplib loop (the messages pre-rendered, one session), then each
contestant in turn, the order rotated from round to round, each on a fresh database of its own
(bench/contestants.py): (a) a backlog of N sign-ups is committed, then the worker started; its
drain rate runs from the moment a first job leaves the waiting state (polled every 2 ms) to the
last receipt; (b) with the worker still running, R sign-ups a second for S seconds, each its own
transaction on one of 8 client threads, and from each commit (noted by a deferred trigger, as
bench/latency.py does) to the SMTP server's receipt of its mail. The SMTP server is
bench/receipts.py in a process of its own at normal priority, shared by every turn. Each
worker sends over up to `--concurrency` SMTP sessions at once (Outpost's RELAY_CONCURRENCY,
32 by default). Every message must arrive exactly once, or the bench fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import smtplib
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING

import psycopg

from bench.arrivals import Arrivals, arrival_times, last_arrival
from bench.common import command, listening_process, machine
from bench.cpu import TICKS_PER_SECOND, tree_ticks
from bench.latency import commit_times, percentiles
from bench.peer_mail import activation, payload
from bench.receipts import Tally, tally
from support.databases import libpq_url

if TYPE_CHECKING:
    from bench.contestants import Contestant, Person, Writer

EXTRA = ("pgqueuer", "asyncpg", "procrastinate")
BARE_DOMAIN = "bare.test"
CLIENTS = 8
BATCH = 100  # backlog sign-ups a transaction


@dataclass(frozen=True)
class Turn:
    """One contestant's figures in one round."""

    name: str
    drain: float  # messages a second
    cpu_ms: float  # the sender's CPU a message during the drain
    latencies: list[float]  # commit → receipt, milliseconds
    tally: Tally


def main() -> int:
    """Run the rounds, print each turn and the command; fail unless each message came once."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"bench.peers needs the bench extra: {', '.join(missing)} not installed "
            "(pip install -e '.[dev]')",
            file=sys.stderr,
        )
        return 2
    # Imported only now: the contestants import the peers' libraries, which may be absent.
    from bench.contestants import CONTESTANTS

    receipts = Path(tempfile.mkdtemp(prefix="outpost-peers-")) / "receipts.txt"
    receipts.touch()
    print(machine())
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"each round: a backlog of {args.messages} activation mails drained, then "
        f"{args.rate:g} sign-ups/s for {args.seconds:g} s; senders' concurrency "
        f"{args.concurrency}"
    )
    exact = True
    with listening_process(
        lambda port: ["-m", "bench.receipts", str(port), str(receipts)], nice=0
    ) as port:
        arrivals = Arrivals(receipts)
        for number in range(args.rounds):
            shift = number % len(CONTESTANTS)
            order = CONTESTANTS[shift:] + CONTESTANTS[:shift]
            bare = bare_loop(port, arrivals, args.messages)
            turns = [bare, *(turn(c, port, arrivals, args) for c in order)]
            print(f"round {number + 1}:")
            for one in turns:
                exact &= one.tally.exactly_once
                print(describe(one, bare))
        arrivals.close()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(command("bench.peers"))
    return 0 if exact else 1


def describe(one: Turn, bare: Turn) -> str:
    """One turn's line: drain rate, its ratio to the round's bare loop, CPU, latency, tally."""
    counted = one.tally
    received = (
        "exactly once"
        if counted.exactly_once
        else f"LOST {counted.lost}, TWICE {counted.twice}, STRAYS {counted.strays}"
    )
    if one is bare:
        return (
            f"  {one.name}: {one.drain:.0f} messages/s, CPU {one.cpu_ms:.2f} ms a message; "
            f"{received}"
        )
    return (
        f"  {one.name}: drain {one.drain:.0f} messages/s, {one.drain / bare.drain:.2f} of the "
        f"bare loop, sender's CPU {one.cpu_ms:.2f} ms a message; commit → receipt "
        f"{percentiles(one.latencies)}; {received}"
    )


def people(prefix: str, count: int) -> list[Person]:
    """`count` sign-ups: an address and a code each."""
    return [(f"{prefix}{n}@example.com", f"{n:06d}") for n in range(count)]


def bare_loop(port: int, arrivals: Arrivals, count: int) -> Turn:
    """The mails pre-rendered, sent over one SMTP session: from its start to the last receipt."""
    arrivals.forget()
    keys = [str(uuid.uuid4()) for _ in range(count)]
    emails = [
        activation(payload(key, email, code), BARE_DOMAIN)
        for key, (email, code) in zip(keys, people("bare", count), strict=True)
    ]
    started, cpu = time.time(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for email in emails:
            smtp.sendmail(email.sender, [email.recipient], email.data)
    cpu_ms = (time.process_time() - cpu) / count * 1000
    lines = arrivals.wait(BARE_DOMAIN, count, 60)
    rate = count / (last_arrival(lines) - started)
    return Turn("bare smtplib loop", rate, cpu_ms, [], tally(keys, lines))


def turn(contestant: Contestant, port: int, arrivals: Arrivals, args: argparse.Namespace) -> Turn:
    """One contestant's drain and steady rate, on a fresh database of its own."""
    arrivals.forget()
    count: int = args.messages
    with contestant.database() as url:
        writer = contestant.writer(url)
        backlog = people("drain", count)
        queued = [
            key
            for start in range(0, count, BATCH)
            for key in writer.sign_up(backlog[start:][:BATCH])
        ]
        writer.close()
        with contestant.worker(url, port, args.concurrency) as worker:
            started = first_take(url, contestant.waiting, count, worker)
            ticks = tree_ticks(worker.pid)
            drained = arrivals.wait(contestant.domain, count, 60 + count / 10)
            cpu = (tree_ticks(worker.pid) - ticks) / TICKS_PER_SECOND
            drain = count / (last_arrival(drained) - started)
            steady = offer(contestant.writer, url, args.rate, args.seconds)
            arrivals.wait(contestant.domain, count + len(steady), 60)
            time.sleep(0.5)  # for a message sent twice to show
        committed = commit_times(url)
    lines = arrivals.lines(contestant.domain)
    arrived = arrival_times(lines)
    latencies = [(arrived[key] - committed[key]) * 1000 for key in steady]
    return Turn(
        contestant.name, drain, cpu / count * 1000, latencies, tally(queued + steady, lines)
    )


def first_take(url: str, waiting: str, count: int, worker: Popen[bytes]) -> float:
    """The epoch seconds when fewer than `count` jobs wait: a worker has taken one."""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        while True:
            row = connection.execute(waiting).fetchone()
            if row is not None and row[0] < count:
                return time.time()
            if worker.poll() is not None:
                raise RuntimeError(f"the worker {worker.args!r} exited before taking a job")
            time.sleep(0.002)


def offer(open_writer: Callable[[str], Writer], url: str, rate: float, seconds: float) -> list[str]:
    """Sign-ups started on a fixed schedule (open loop), each its own transaction on one of
    CLIENTS threads with a writer each; their keys."""
    local = threading.local()
    writers: list[Writer] = []
    lock = threading.Lock()

    def one(person: Person) -> str:
        writer: Writer | None = getattr(local, "writer", None)
        if writer is None:
            writer = local.writer = open_writer(url)
            with lock:
                writers.append(writer)
        [key] = writer.sign_up([person])
        return key

    futures: list[Future[str]] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for n, person in enumerate(people("steady", int(rate * seconds))):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, person))
    for writer in writers:
        writer.close()
    return [future.result() for future in futures]


if __name__ == "__main__":
    sys.exit(main())
