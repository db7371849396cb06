"""Registrations through gunicorn on PostgreSQL: answer times and rate against the hashing ceiling.

Run from the repository root: `.venv/bin/python -m bench.register [--rounds N] [--clients N]`.

Everything runs as in production: gunicorn with deploy/gunicorn.conf.py, `outbox-relay run`,
and an SMTP server in a process of its own. Two such stacks run side by side, each on its own
database: in one the SMTP server takes 30 s to accept a message (its relay is stuck in SMTP),
in the other 1 ms (its relay delivers every message while the API is loaded). Each round
loads one stack, then the other, so that a machine whose speed drifts weighs on both alike:

- low load: one client, one registration at a time;
- concurrent: N clients, each registering again as soon as it is answered.

After a 1 ms phase the bench waits for that relay to finish delivering, so that its catching
up never lands in the other stack's measure. The argon2id hash time is measured by the
low-load client itself, one hash before each of its requests: the machine's speed drifts
within a minute, and so the hash is timed at the same moments as the answers it is compared
with. Only the hashes timed against the stuck stack and the hash-only app count, where
nothing else runs meanwhile (against the other stack, its relay may still be delivering).
The ceiling is cores ÷ their median. Two figures show how much of that ceiling
anything can reach here: the rate of as many processes doing nothing but hashing, and, loaded
like the stacks in every round, a WSGI app that only hashes (bench/hash_only.py) under the
same gunicorn settings. The clients are one asyncio loop writing raw HTTP, so the load
generator costs little of the cores it shares with the server.

Over each concurrent load the bench also reads, from /proc, the CPU time that every process on
the machine used, by kind (gunicorn, PostgreSQL, relay, SMTP server, this load generator,
other). With both cores busy the rate is what a registration costs in CPU, so these figures set
the API against what 0.80 of the ceiling leaves it: 1.25 hash times a registration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from api_service.passwords import make_hasher
from bench.common import (
    api_and_relay,
    client_address,
    machine,
    pending,
    postgres_database,
    served,
    sink_process,
)
from bench.cpu import TICKS_PER_SECOND, cpu_ticks
from shared.db import create_engine_for
from support import processes

PASSWORD = "correct horse battery staple"
HASHER = make_hasher()
SLOW, FAST = 30.0, 0.001


@dataclass
class Run:
    """Answer times (seconds) of one kind of load, over every round."""

    answers: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, answers: list[float], seconds: float) -> None:
        self.answers.extend(answers)
        self.seconds += seconds

    @property
    def rate(self) -> float:
        return len(self.answers) / self.seconds

    def percentile(self, p: float) -> float:
        """The p-th percentile answer time, in milliseconds."""
        ordered = sorted(self.answers)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


@dataclass
class Stack:
    """gunicorn and the relay on one database, behind an SMTP server taking `delay` a message."""

    delay: float
    port: int
    database_url: str
    low: Run = field(default_factory=Run)
    busy: Run = field(default_factory=Run)
    hashes: list[float] = field(default_factory=list)
    # CPU seconds by kind of process over the concurrent loads, every process on the machine.
    cpu: Counter[str] = field(default_factory=Counter)


def main() -> int:
    """Measure, then print the figures, the targets they meet or miss, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="concurrent, per round")
    parser.add_argument("--low-load-seconds", type=float, default=8.0, help="per round")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    with ExitStack() as running:
        slow = running.enter_context(stack(SLOW))
        fast = running.enter_context(stack(FAST))
        bare = running.enter_context(hash_only())
        for one in (slow, fast, bare):
            asyncio.run(load(one.port, 1, 1.0, f"warm{one.delay:g}"))
        drained(fast)
        for n in range(args.rounds):
            for one in (slow, fast, bare):
                tag = f"r{n}d{one.delay:g}"
                low = load(one.port, 1, args.low_load_seconds, f"{tag}l", one.hashes)
                one.low.add(*asyncio.run(low))
                before = cpu_ticks()
                one.busy.add(*asyncio.run(load(one.port, args.clients, args.seconds, f"{tag}b")))
                one.cpu.update(cpu_ticks() - before)
                drained(one)
    # Timed where nothing else ran meanwhile (see the module's docstring).
    quiet_hashes = slow.hashes + bare.hashes
    hashing = statistics.median(quiet_hashes)
    ceiling = cores / hashing
    hashing_only = parallel_hash_rate(cores)

    print(machine())
    print(
        f"argon2id hash (m=19 MiB, t=2, p=1), timed by the client before each low-load "
        f"request: median {hashing * 1000:.1f} ms ({len(quiet_hashes)} hashes; "
        f"against the other stack, whose relay may be busy meanwhile: "
        f"{statistics.median(fast.hashes) * 1000:.1f} ms)"
    )
    print(
        f"hashing ceiling: {cores} cores ÷ {hashing * 1000:.1f} ms = {ceiling:.0f}/s; "
        f"{cores} processes doing nothing but hashing reach {hashing_only:.0f}/s "
        f"({hashing_only / ceiling:.2f} of it)"
    )
    print(
        f"WSGI app doing nothing but hash, same gunicorn settings and clients: one at a time "
        f"p50 {bare.low.percentile(50):.1f} ms (hash "
        f"{bare.low.percentile(50) - hashing * 1000:+.1f} ms); {args.clients} clients "
        f"{bare.busy.rate:.1f}/s ({bare.busy.rate / ceiling:.2f} of the ceiling)"
    )
    for one in (slow, fast):
        print(
            f"SMTP taking {one.delay * 1000:g} ms a message, {args.rounds} rounds: "
            f"one at a time p50 {one.low.percentile(50):.1f} ms, p99 "
            f"{one.low.percentile(99):.1f} ms ({len(one.low.answers)}); {args.clients} clients "
            f"{one.busy.rate:.1f}/s, p50 {one.busy.percentile(50):.0f} ms, p99 "
            f"{one.busy.percentile(99):.0f} ms ({len(one.busy.answers)})"
        )
    print(
        f"p50 at low load minus hash time: {slow.low.percentile(50) - hashing * 1000:+.1f} ms "
        f"(target: at most +5); minus the hash-only app's p50: "
        f"{slow.low.percentile(50) - bare.low.percentile(50):+.1f} ms"
    )
    print(
        f"throughput: {slow.busy.rate / ceiling:.2f} of the ceiling (target: at least 0.80); "
        f"{slow.busy.rate / bare.busy.rate:.2f} of the hash-only app's"
    )
    print(
        f"p99 with SMTP at 1 ms ÷ at 30 s: one at a time "
        f"{fast.low.percentile(99) / slow.low.percentile(99):.2f}, {args.clients} clients "
        f"{fast.busy.percentile(99) / slow.busy.percentile(99):.2f} (target: 0.90 to 1.10)"
    )
    print(
        f"CPU a registration with {args.clients} clients (from /proc; 0.80 of the ceiling "
        f"leaves {1.25 * hashing * 1000:.1f} ms, 1.25 hash times, with the cores kept busy):"
    )
    for name, one in (("hash-only app", bare), ("SMTP at 30 s", slow), ("SMTP at 1 ms", fast)):
        count = len(one.busy.answers)
        parts = ", ".join(
            f"{kind} {ticks / TICKS_PER_SECOND / count * 1000:.2f}"
            for kind, ticks in one.cpu.most_common()
        )
        seconds = sum(one.cpu.values()) / TICKS_PER_SECOND
        print(f"  {name}: {seconds / count * 1000:.1f} ms ({parts})")
    print(f"command: {' '.join([sys.executable, '-m', 'bench.register', *sys.argv[1:]])}")
    return 0


@contextmanager
def stack(delay: float) -> Iterator[Stack]:
    """A running stack whose SMTP server takes `delay` seconds a message."""
    with (
        sink_process(delay) as smtp_port,
        postgres_database("outpost_register") as url,
        api_and_relay(
            url,
            f"smtp://127.0.0.1:{smtp_port}?timeout={delay + 10:.0f}",
            RELAY_LEASE_SECONDS=f"{delay + 60:.0f}",
        ) as port,
    ):
        yield Stack(delay, port, url)


@contextmanager
def hash_only() -> Iterator[Stack]:
    """bench/hash_only.py under the API's gunicorn settings."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-hash-only-"))
    env = {
        "SECRET_KEY": uuid.uuid4().hex,
        "DATABASE_URL": f"sqlite:///{workdir}/unused.db",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    with served(env, workdir, app="bench.hash_only:app") as port:
        yield Stack(0.0, port, "")


def drained(one: Stack) -> None:
    """Once the relay of a fast stack has delivered everything (a slow one never does)."""
    if one.delay != FAST:
        return
    engine = create_engine_for(one.database_url)
    try:
        processes.eventually(lambda: pending(engine) == 0, 120, "the relay caught up")
    finally:
        engine.dispose()


async def load(
    port: int, clients: int, duration: float, tag: str, hashes: list[float] | None = None
) -> tuple[list[float], float]:
    """`clients` registering back to back for `duration` seconds: answer times and seconds.

    With `hashes`, each client first times a hash of its own before each request, into it;
    the answers' rate then means nothing, only their times.
    """
    answers: list[float] = []
    stop = time.perf_counter() + duration
    started = time.perf_counter()
    await asyncio.gather(
        *(client(port, f"{tag}c{n}", stop, answers, hashes) for n in range(clients))
    )
    return answers, time.perf_counter() - started


async def client(
    port: int, name: str, stop: float, answers: list[float], hashes: list[float] | None
) -> None:
    """Register new addresses one after another until `stop`, timing each answer.

    The sync workers close the connection after each answer, so each request connects anew,
    as a proxy in front would.
    """
    sent = 0
    while time.perf_counter() < stop:
        if hashes is not None:
            started = time.perf_counter()
            HASHER.hash(PASSWORD)
            hashes.append(time.perf_counter() - started)
        body = json.dumps({"email": f"{name}n{sent}@example.com", "password": PASSWORD}).encode()
        request = (
            b"POST /v1/registrations HTTP/1.1\r\nHost: bench\r\nX-Forwarded-For: %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (client_address().encode(), len(body), body)
        )
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 202"):
            raise RuntimeError(f"unexpected answer: {head[:60]!r}")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        answers.append(time.perf_counter() - started)
        writer.close()
        sent += 1


def parallel_hash_rate(processes_: int, seconds: float = 3.0) -> float:
    """Hashes per second of `processes_` processes doing nothing else for `seconds`."""
    with multiprocessing.Pool(processes_) as pool:
        started = time.perf_counter()
        counts = pool.map(_hash_for, [seconds] * processes_)
        return sum(counts) / (time.perf_counter() - started)


def _hash_for(seconds: float) -> int:
    hasher = make_hasher()
    hashes = 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        hasher.hash(PASSWORD)
        hashes += 1
    return hashes


if __name__ == "__main__":
    sys.exit(main())
