"""Registrations through gunicorn on PostgreSQL: Outpost against the app it replaces, same run.

Run from the repository root: `.venv/bin/python -m bench.register [--rounds N] [--clients N]`.

Three apps run side by side under the API's gunicorn settings (outpost/gunicorn_conf.py), each
on its own database, each delivering to an SMTP server of its own that answers in 1 ms:

- Outpost: `api_service:create_app()` and `outbox-relay run`, as production runs them;
- the peer (bench/naive_app.py): what seed 000 settled for, hash, user and code in one
  transaction, the email sent by a background thread of the worker after the answer;
- for reference, a WSGI app that only hashes (bench/hash_only.py): what HTTP, gunicorn and
  the load generator leave of the cores before any app does anything.

Each round loads each app in turn, so that a machine whose speed drifts weighs on all alike:

- low load: one client, one registration at a time;
- concurrent: N clients, each registering again as soon as it is answered.

After each load the bench waits until that app has delivered every email (Outpost's relay, the
peer's threads), so that its catching up never lands in another app's measure; the rate and the CPU
of the concurrent load run until then, so an app whose delivery lags behind its answers is not
flattered. The rate ratio is printed over all rounds and round by round: Outpost and the peer are
loaded one after the other in each round, so each round's ratio is a pair measured under the same
drift. With `--db-delay-ms D`, each app reaches its database through a proxy in a process of its own
(bench/delay_proxy.py) that adds D ms to every round trip, as a database a zone away does, the same
for both; the proxies count the round trips a registration makes (Outpost's API and its relay
through proxies of their own). The low-load client also times one argon2id hash before each of its
requests, at the same moments as the answers. The clients are one asyncio loop writing raw HTTP, so
the load generator costs little of the cores it shares with the servers. Over each concurrent load
the bench reads from /proc the CPU time that every process on the machine used, by kind (gunicorn,
PostgreSQL, relay, SMTP server, this load generator, other): with both cores busy, the rate is what
a registration costs in CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from api_service.flows.passwords import make_hasher
from bench.common import (
    Delayed,
    api_and_relay,
    client_address,
    command,
    delayed,
    machine,
    pending,
    postgres_database,
    served,
    sink_process,
)
from bench.cpu import TICKS_PER_SECOND, cpu_ticks
from shared.database.db import create_engine_for
from support import processes

PASSWORD = "correct horse battery staple"
HASHER = make_hasher()
SMTP_DELAY = 0.001


@dataclass
class Run:
    """Answer times (seconds) of one kind of load, over every round."""

    answers: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # Each round's rate: paired with another app's in the same round, drift weighs on both.
    rounds: list[float] = field(default_factory=list)

    def add(self, answers: list[float], seconds: float) -> None:
        self.answers.extend(answers)
        self.seconds += seconds
        self.rounds.append(len(answers) / seconds)

    @property
    def rate(self) -> float:
        return len(self.answers) / self.seconds

    def percentile(self, p: float) -> float:
        """The p-th percentile answer time, in milliseconds."""
        ordered = sorted(self.answers)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


@dataclass
class App:
    """One app under load: its port, how to tell it has delivered everything, its figures."""

    name: str
    port: int
    delivered: Callable[[int], bool]
    low: Run = field(default_factory=Run)
    busy: Run = field(default_factory=Run)
    hashes: list[float] = field(default_factory=list)
    # CPU seconds by kind of process over the concurrent loads, every process on the machine.
    cpu: Counter[str] = field(default_factory=Counter)
    warm_up: int = 0  # registrations before the rounds
    # With --db-delay-ms: the app's proxies by role, and the round trips each made in the loads.
    proxies: dict[str, Delayed] = field(default_factory=dict)
    round_trips: Counter[str] = field(default_factory=Counter)

    def trips(self) -> Counter[str]:
        """The round trips made so far through each of the app's proxies."""
        return Counter({role: proxy.round_trips() for role, proxy in self.proxies.items()})

    @property
    def registered(self) -> int:
        return self.warm_up + len(self.low.answers) + len(self.busy.answers)

    def drained(self) -> float:
        """Once every registration answered so far has had its email delivered: how long
        that took after the last answer."""
        count, started = self.registered, time.perf_counter()
        processes.eventually(lambda: self.delivered(count), 120, f"{self.name} delivered")
        return time.perf_counter() - started


def main() -> int:
    """Measure, then print the figures, the targets they meet or miss, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="concurrent, per round")
    parser.add_argument("--low-load-seconds", type=float, default=8.0, help="per round")
    parser.add_argument(
        "--db-delay-ms", type=float, default=0.0, help="added to each database round trip"
    )
    args = parser.parse_args()

    with ExitStack() as running:
        outpost = running.enter_context(outpost_app(args.db_delay_ms))
        naive = running.enter_context(naive_app(args.db_delay_ms))
        bare = running.enter_context(hash_only())
        apps = (outpost, naive, bare)
        for one in apps:
            warm, _seconds = asyncio.run(load(one.port, 1, 1.0, f"warm{one.name}"))
            one.warm_up = len(warm)
            one.drained()
        for n in range(args.rounds):
            for one in apps:
                tag = f"r{n}{one.name}"
                one.low.add(
                    *asyncio.run(load(one.port, 1, args.low_load_seconds, f"{tag}l", one.hashes))
                )
                before, trips = cpu_ticks(), one.trips()
                busy = load(one.port, args.clients, args.seconds, f"{tag}b")
                answers, seconds = asyncio.run(busy)
                one.busy.add(answers, seconds + one.drained())
                one.cpu.update(cpu_ticks() - before)
                time.sleep(0.3)  # the proxies write their counts every 0.1 s
                one.round_trips.update(one.trips() - trips)

    hashes = outpost.hashes + naive.hashes + bare.hashes
    print(machine())
    print(
        f"argon2id hash (m=19 MiB, t=2, p=1), timed by the low-load client before each "
        f"request: median {statistics.median(hashes) * 1000:.1f} ms ({len(hashes)} hashes)"
    )
    for one in apps:
        print(
            f"{one.name}, {args.rounds} rounds: one at a time p50 {one.low.percentile(50):.1f} "
            f"ms, p99 {one.low.percentile(99):.1f} ms ({len(one.low.answers)}); "
            f"{args.clients} clients {one.busy.rate:.1f}/s, p50 {one.busy.percentile(50):.0f} ms, "
            f"p99 {one.busy.percentile(99):.0f} ms ({len(one.busy.answers)})"
        )
    print(
        f"Outpost's p50 at low load minus the peer's: "
        f"{outpost.low.percentile(50) - naive.low.percentile(50):+.1f} ms (target: at most +3)"
    )
    print(
        f"Outpost's rate with {args.clients} clients: {outpost.busy.rate / naive.busy.rate:.2f} "
        f"of the peer's (target: at least 0.95); {outpost.busy.rate / bare.busy.rate:.2f} of "
        f"the hash-only app's, the peer {naive.busy.rate / bare.busy.rate:.2f}"
    )
    paired = [
        ours / theirs for ours, theirs in zip(outpost.busy.rounds, naive.busy.rounds, strict=True)
    ]
    print(
        f"  round by round: {', '.join(f'{ratio:.2f}' for ratio in paired)} "
        f"(median {statistics.median(paired):.2f})"
    )
    if args.db_delay_ms:
        print(
            f"database {args.db_delay_ms:g} ms away; round trips a registration with "
            f"{args.clients} clients: "
            + "; ".join(
                f"{one.name} "
                + ", ".join(
                    f"{role} {trips / len(one.busy.answers):.1f}"
                    for role, trips in sorted(one.round_trips.items())
                )
                for one in apps
                if one.proxies
            )
        )
    print(f"CPU a registration with {args.clients} clients, every process (from /proc), in ms:")
    for one in apps:
        count = len(one.busy.answers)
        parts = ", ".join(
            f"{kind} {ticks / TICKS_PER_SECOND / count * 1000:.2f}"
            for kind, ticks in one.cpu.most_common()
        )
        seconds = sum(one.cpu.values()) / TICKS_PER_SECOND
        print(f"  {one.name}: {seconds / count * 1000:.1f} ({parts})")
    print(command("bench.register"))
    return 0


@contextmanager
def outpost_app(delay_ms: float) -> Iterator[App]:
    """gunicorn and the relay on a database of their own, each through a proxy of its own
    `delay_ms` away if not 0."""
    with ExitStack() as running:
        smtp_port = running.enter_context(sink_process(SMTP_DELAY))
        url = running.enter_context(postgres_database("outpost_register"))
        proxies = _proxies(running, url, delay_ms, "API", "relay")
        api_url, relay_url = (proxies[role].url if proxies else url for role in ("API", "relay"))
        port = running.enter_context(
            api_and_relay(api_url, f"smtp://127.0.0.1:{smtp_port}", relay_database_url=relay_url)
        )
        engine = create_engine_for(url)
        running.callback(engine.dispose)
        yield App("Outpost", port, lambda _count: pending(engine) == 0, proxies=proxies)


@contextmanager
def naive_app(delay_ms: float) -> Iterator[App]:
    """bench/naive_app.py under the API's gunicorn settings, on a database of its own (through
    a proxy `delay_ms` away if not 0)."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-naive-"))
    tally = workdir / "delivered"
    tally.touch()
    with ExitStack() as running:
        smtp_port = running.enter_context(sink_process(SMTP_DELAY, tally))
        url = running.enter_context(postgres_database("outpost_naive"))
        proxies = _proxies(running, url, delay_ms, "app")
        env = {**_bench_env(proxies["app"].url if proxies else url), "SMTP_PORT": str(smtp_port)}
        port = running.enter_context(served(env, workdir, app="bench.naive_app:app"))
        yield App("the peer", port, lambda count: tally.stat().st_size >= count, proxies=proxies)


def _proxies(running: ExitStack, url: str, delay_ms: float, *roles: str) -> dict[str, Delayed]:
    """A delaying proxy to `url` for each role, none when `delay_ms` is 0."""
    if not delay_ms:
        return {}
    return {role: running.enter_context(delayed(url, delay_ms)) for role in roles}


@contextmanager
def hash_only() -> Iterator[App]:
    """bench/hash_only.py under the API's gunicorn settings."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-hash-only-"))
    with served(
        _bench_env(f"sqlite:///{workdir}/unused.db"), workdir, app="bench.hash_only:app"
    ) as port:
        yield App("hash-only app", port, lambda _count: True)


def _bench_env(database_url: str) -> dict[str, str]:
    """What gunicorn needs to serve one of the benches' own apps."""
    return {
        "SECRET_KEY": uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }


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
        answers.append(await register(port, f"{name}n{sent}@example.com"))
        sent += 1


async def register(port: int, email: str) -> float:
    """Register `email` once, on a connection of its own; the answer's time in seconds."""
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
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
    writer.close()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
