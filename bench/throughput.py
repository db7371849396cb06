"""Registrations per second through gunicorn at full load, against the hashing ceiling.

Run from the repository root: `.venv/bin/python -m bench.throughput [--clients N] [--seconds S]`.

The ceiling is cores ÷ the argon2id hash time measured in the same run. The clients are
keep-alive connections driven by one asyncio loop writing raw HTTP, so the load generator
itself costs little of the two cores it shares with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import hash_time, machine, postgres_database
from tests import processes
from tests.smtp_sink import SinkServer, free_port

PASSWORD = "correct horse battery staple"


def main() -> int:
    """Measure the hash, load the API, print the rate, its share of the ceiling and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()

    hashing = hash_time()
    ceiling = (os.cpu_count() or 1) / hashing

    smtp = SinkServer()
    smtp.start()
    workdir = Path(tempfile.mkdtemp(prefix="outpost-throughput-"))
    port = free_port()
    try:
        with postgres_database("outpost_throughput") as url:
            env = {
                "DATABASE_URL": url,
                "SECRET_KEY": uuid.uuid4().hex,
                "SMTP_URL": smtp.url,
                "IP_RATE_LIMIT": "1000000",
                "RELAY_METRICS_PORT": "0",
            }
            api = processes.gunicorn(env, port, workdir)
            relay = processes.relay(env, workdir)
            try:
                processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
                rate, seconds = asyncio.run(load(port, args.clients, args.seconds))
            finally:
                processes.stop(relay)
                processes.stop(api)
    finally:
        smtp.stop()

    seconds.sort()
    print(machine())
    print(f"argon2id hash, same run: median {hashing * 1000:.1f} ms → ceiling {ceiling:.0f}/s")
    print(
        f"{args.clients} keep-alive clients for {args.seconds:g} s: {rate:.1f} registrations/s "
        f"({rate / ceiling:.2f} of the ceiling); answers p50 "
        f"{statistics.median(seconds) * 1000:.0f} ms, p99 "
        f"{seconds[int(len(seconds) * 0.99) - 1] * 1000:.0f} ms"
    )
    print(f"command: {' '.join([sys.executable, '-m', 'bench.throughput', *sys.argv[1:]])}")
    return 0


async def load(port: int, clients: int, duration: float) -> tuple[float, list[float]]:
    """Registrations per second over `duration`, and every answer's time."""
    seconds: list[float] = []
    stop = time.perf_counter() + duration
    started = time.perf_counter()
    await asyncio.gather(*(client(port, n, stop, seconds) for n in range(clients)))
    return len(seconds) / (time.perf_counter() - started), seconds


async def client(port: int, number: int, stop: float, seconds: list[float]) -> None:
    """One connection registering new addresses back to back until `stop`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    while time.perf_counter() < stop:
        body = json.dumps({"email": f"c{number}n{sent}@example.com", "password": PASSWORD})
        writer.write(
            b"POST /v1/registrations HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body.encode())
        )
        started = time.perf_counter()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 202"), head[:40]
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        seconds.append(time.perf_counter() - started)
        sent += 1
    writer.close()


if __name__ == "__main__":
    sys.exit(main())
