"""A burst shed, not queued: sign-ups through the shipped nginx site (which
sets X-Request-Start) to gunicorn and the relay, at 1, 2, 4 and 8 times the rate this machine
sustains, driven by Locust (open arrivals: each user registers once a second whatever the
answers take). Prints, for each: the answers within 5 s, the p50 and p99 of admitted sign-ups,
the share shed (503 with Retry-After), and whether every 202's message was written and sent.

The sustainable rate is measured first: 32 users registering back to back for 10 s."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import aiosmtpd_sink, api_and_relay, command, machine, postgres_database
from shared.db import create_engine_for
from shared.models import outbox
from support import nginx, processes
from support.smtp_sink import free_port
from support.smtp_stages import SmtpCA

LOCUSTFILE = Path(__file__).with_name("overload_locustfile.py")
# Seconds between two sign-ups of one user: longer than an admitted one takes (the queue timeout
# and the hash), so that arrivals do not wait for answers.
PERIOD = 8


def locust(host: str, ca: Path, users: int, seconds: int, log: Path, closed: bool = False) -> None:
    """Locust, headless, `users` users for `seconds` after they are all spawned; spawned over
    one PERIOD (each starts with a sign-up: spawned at once they would be a burst of their
    own), or at once when `closed`."""
    spawn = users if closed else max(1, round(users / PERIOD))
    seconds += 0 if closed else PERIOD
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(spawn),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--stop-timeout",
            "30",
        ],
        env={
            **os.environ,
            "OVERLOAD_LOG": str(log),
            "OVERLOAD_CA": str(ca),
            "OVERLOAD_PERIOD": str(PERIOD),
            **({"OVERLOAD_CLOSED": "1"} if closed else {}),
        },
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 120,
    )


def answers(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="each rate's run")
    parser.add_argument("--multiples", default="1,2,4,8")
    args = parser.parse_args()
    print(machine())
    prefix = Path(tempfile.mkdtemp(prefix="outpost-overload-"))
    with postgres_database("overload") as url, aiosmtpd_sink() as smtp_port:
        settings = {"IP_RATE_LIMIT": "100000000", "API_QUEUE_TIMEOUT": "3"}
        with api_and_relay(url, f"smtp://127.0.0.1:{smtp_port}", **settings) as api_port:
            https = free_port()
            ca = SmtpCA.make()
            conf = nginx.configure(prefix, http=free_port(), https=https, api=api_port, ca=ca)
            ca.ca.cert_pem.write_to_path(str(prefix / "ca.pem"))
            server = nginx.start(conf)
            try:
                processes.eventually(lambda: processes.listening(https), 15, "nginx listening")
                host = f"https://localhost:{https}"
                run(host, prefix, url, args)
            finally:
                processes.stop(server, signal.SIGQUIT)
    shutil.rmtree(prefix, ignore_errors=True)
    print(command("bench.overload"))


def run(host: str, prefix: Path, url: str, args: argparse.Namespace) -> None:
    """The sustainable rate, then each multiple of it; the table, then the deliveries' check."""
    ca = prefix / "ca.pem"
    warm = prefix / "closed.jsonl"
    locust(host, ca, 32, 10, warm, closed=True)
    done = [a for a in answers(warm) if a["status"] == 202]
    rate = len(done) / 10
    print(f"sustained: {rate:.0f} sign-ups a second (32 users back to back for 10 s)")
    print(
        "| load | offered | answers | within 5 s | admitted p50 | admitted p99 | shed (503) "
        "| nginx 504 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    admitted: list[str] = [str(a["delivery"]) for a in done]
    for multiple in [int(m) for m in args.multiples.split(",")]:
        users = max(1, round(rate * multiple * PERIOD))
        log = prefix / f"x{multiple}.jsonl"
        locust(host, ca, users, args.seconds, log)
        got = answers(log)
        ok = [a for a in got if a["status"] == 202]
        shed = [a for a in got if a["status"] == 503]
        other = len(got) - len(ok) - len(shed)
        # 504: nginx gave up on gunicorn (proxy_read_timeout) for a request still queued.
        gateway = sum(1 for a in got if a["status"] == 504)
        assert other == gateway, f"{other - gateway} answers neither 202, 503 nor 504"
        assert all(a["retry_after"] for a in shed), "a 503 without Retry-After"
        within = sum(1 for a in got if float(a["seconds"]) <= 5.0) / len(got)
        times = sorted(float(a["seconds"]) for a in ok)
        p50 = statistics.median(times) if times else float("nan")
        p99 = times[int(0.99 * (len(times) - 1))] if times else float("nan")
        print(
            f"| {multiple}x | {users / PERIOD:.0f}/s | {len(got)} | {within:.1%} "
            f"| {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms | {len(shed) / len(got):.1%} "
            f"| {gateway} |"
        )
        admitted += [str(a["delivery"]) for a in ok]
        time.sleep(5)  # the queue drains between two runs
    check_delivered(url, admitted)


def check_delivered(url: str, ids: list[str]) -> None:
    """Every 202's message written, and sent by the relay: nothing acknowledged is lost."""
    engine = create_engine_for(url)
    deadline = time.monotonic() + 300
    try:
        while True:
            with engine.connect() as connection:
                rows = dict(connection.execute(select(outbox.c.public_id, outbox.c.status)).all())
            missing = [i for i in ids if i not in rows]
            unsent = [i for i in ids if rows.get(i) != "sent"]
            if not unsent or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        engine.dispose()
    print(f"acknowledged: {len(ids)}; their rows missing: {len(missing)}; not sent: {len(unsent)}")


if __name__ == "__main__":
    main()
