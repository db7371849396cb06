"""Registration answer times through gunicorn on PostgreSQL while SMTP takes 30 s a message.

Run from the repository root: `.venv/bin/python -m bench.register [--requests N] [--smtp-delay S]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

from bench.common import hash_time, machine, postgres_database
from tests import processes
from tests.smtp_sink import SinkServer, free_port


def main() -> int:
    """Measure and print the figures and the command that reproduces them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--smtp-delay", type=float, default=30.0)
    args = parser.parse_args()

    hashing = hash_time()

    smtp = SinkServer()
    smtp.sink.delay = args.smtp_delay
    smtp.start()
    workdir = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    port = free_port()
    try:
        with postgres_database("outpost_bench") as url:
            env = {
                "DATABASE_URL": url,
                "SECRET_KEY": uuid.uuid4().hex,
                "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}?timeout={args.smtp_delay + 10:g}",
                "RELAY_LEASE_SECONDS": f"{args.smtp_delay + 60:g}",
                # One client sends every request: lift the per-IP limit, as a load balancer's
                # address would need.
                "IP_RATE_LIMIT": "1000000",
                "RELAY_METRICS_PORT": "0",
            }
            api = processes.gunicorn(env, port, workdir)
            relay = processes.relay(env, workdir)
            processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
            answers = []
            for n in range(args.requests):
                status, _, seconds = processes.post_json(
                    f"http://127.0.0.1:{port}/v1/registrations",
                    {"email": f"bench{n}@example.com", "password": "correct horse battery staple"},
                )
                assert status == 202, status
                answers.append(seconds)
            received = len(smtp.sink.received)
            smtp_busy = len(smtp.sink.data_commands) > 0 and received < args.requests
            processes.stop(relay)
            processes.stop(api)
    finally:
        smtp.stop()

    answers.sort()
    ms = [a * 1000 for a in answers]
    print(machine())
    print(f"argon2id hash (m=19 MiB, t=2, p=1): median {hashing * 1000:.1f} ms")
    print(
        f"registrations: {args.requests} sequential, SMTP taking {args.smtp_delay:g} s a message "
        f"(relay stuck in SMTP meanwhile: {smtp_busy})"
    )
    print(
        f"answer time: p50 {ms[len(ms) // 2]:.1f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )
    print(f"command: {' '.join([sys.executable, '-m', 'bench.register', *sys.argv[1:]])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
