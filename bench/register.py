"""Registrations through gunicorn on PostgreSQL: answer times and rate against the hashing ceiling.

Run from the repository root: `.venv/bin/python -m bench.register [--clients N] [--seconds S]`.

Everything runs as in production: gunicorn with deploy/gunicorn.conf.py, `outbox-relay run`,
and an SMTP server in a process of its own. The whole measure is taken twice, with the SMTP
server taking 30 s to accept a message (the relay is stuck in SMTP meanwhile) and 1 ms (the
relay delivers every message while the API is loaded), so that the two can be compared:

- low load: one client, one registration at a time;
- concurrent: N clients, each registering again as soon as it is answered.

The argon2id hash time is measured in the same run, and the ceiling is cores ÷ that time.
Beside it, the rate that the same number of processes reach doing nothing but hashing shows how
much of that ceiling the machine lets anything reach. The clients are one asyncio loop writing
raw HTTP, so the load generator costs little of the cores it shares with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from api_service.passwords import make_hasher
from bench.common import hash_time, machine, postgres_database, sink_process
from tests import processes
from tests.smtp_sink import free_port

PASSWORD = "correct horse battery staple"
SMTP_DELAYS = (30.0, 0.001)


@dataclass
class Run:
    """Answer times (seconds) over a load's duration."""

    answers: list[float]
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.answers) / self.seconds

    def percentile(self, p: float) -> float:
        """The p-th percentile answer time, in milliseconds."""
        ordered = sorted(self.answers)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def main() -> int:
    """Measure, then print the figures, the targets they meet or miss, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--low-load-seconds", type=float, default=8.0)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    hashing = hash_time()
    ceiling = cores / hashing
    hashing_only = parallel_hash_rate(cores)
    runs = {
        delay: measure(delay, args.clients, args.seconds, args.low_load_seconds)
        for delay in SMTP_DELAYS
    }

    slow, fast = (runs[delay] for delay in SMTP_DELAYS)
    print(machine())
    print(f"argon2id hash (m=19 MiB, t=2, p=1), same run: median {hashing * 1000:.1f} ms")
    print(
        f"hashing ceiling: {cores} cores ÷ {hashing * 1000:.1f} ms = {ceiling:.0f}/s; "
        f"{cores} processes doing nothing but hashing reach {hashing_only:.0f}/s "
        f"({hashing_only / ceiling:.2f} of it)"
    )
    for delay, (low, busy) in runs.items():
        print(
            f"SMTP taking {delay * 1000:g} ms a message: one at a time p50 "
            f"{low.percentile(50):.1f} ms, p99 {low.percentile(99):.1f} ms; "
            f"{args.clients} clients {busy.rate:.1f}/s, p50 {busy.percentile(50):.0f} ms, "
            f"p99 {busy.percentile(99):.0f} ms"
        )
    low, busy = slow
    print(
        f"p50 at low load minus hash time: {low.percentile(50) - hashing * 1000:+.1f} ms "
        f"(target ≤ +5)"
    )
    print(f"throughput: {busy.rate / ceiling:.2f} of the ceiling (target ≥ 0.80)")
    print(
        f"p99 with SMTP at 1 ms ÷ at 30 s: one at a time "
        f"{fast[0].percentile(99) / low.percentile(99):.2f}, {args.clients} clients "
        f"{fast[1].percentile(99) / busy.percentile(99):.2f} (target within 0.90 to 1.10)"
    )
    print(f"command: {' '.join([sys.executable, '-m', 'bench.register', *sys.argv[1:]])}")
    return 0


def measure(delay: float, clients: int, seconds: float, low_seconds: float) -> tuple[Run, Run]:
    """Low-load and concurrent runs against a fresh stack whose SMTP takes `delay` a message."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-register-"))
    port = free_port()
    with sink_process(delay) as smtp_port, postgres_database("outpost_register") as url:
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": uuid.uuid4().hex,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout={delay + 10:.0f}",
            "RELAY_LEASE_SECONDS": f"{delay + 60:.0f}",
            # One client sends every request: lift the per-IP limit, as a load balancer's
            # address would need.
            "IP_RATE_LIMIT": "1000000",
            "RELAY_METRICS_PORT": "0",
        }
        api = processes.gunicorn(env, port, workdir)
        relay = processes.relay(env, workdir)
        try:
            processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
            asyncio.run(load(port, 1, 1.0, f"warm{delay}"))
            low = asyncio.run(load(port, 1, low_seconds, f"low{delay}"))
            busy = asyncio.run(load(port, clients, seconds, f"busy{delay}"))
        finally:
            processes.stop(relay)
            processes.stop(api)
    return low, busy


async def load(port: int, clients: int, duration: float, tag: str) -> Run:
    """`clients` registering back to back for `duration` seconds."""
    answers: list[float] = []
    stop = time.perf_counter() + duration
    started = time.perf_counter()
    await asyncio.gather(*(client(port, f"{tag}c{n}", stop, answers) for n in range(clients)))
    return Run(answers, time.perf_counter() - started)


async def client(port: int, name: str, stop: float, answers: list[float]) -> None:
    """Register new addresses one after another until `stop`, timing each answer.

    The sync workers close the connection after each answer, so each request connects anew,
    as a proxy in front would.
    """
    sent = 0
    while time.perf_counter() < stop:
        body = json.dumps({"email": f"{name}n{sent}@example.com", "password": PASSWORD}).encode()
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/registrations HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
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
