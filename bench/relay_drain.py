"""Relay drain rate against a bare smtplib loop, same messages, same SMTP server, same run.

Run from the repository root: `.venv/bin/python -m bench.relay_drain [--messages N]`.

The SMTP server is aiosmtpd's discarding Sink in a process of its own, so neither figure
shares a CPU-bound interpreter with it. The bare loop sends the pre-rendered messages over one
reused connection; the relay is `outbox-relay run` with its default settings, timed from its
start to the moment every row is `sent`.
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine

from bench.common import machine, pending, postgres_database, sink_process
from outbox_relay import store
from outbox_relay.channels import Email
from outbox_relay.compose import compose
from shared.clock import utcnow
from shared.db import create_engine_for
from shared.secretbox import SecretBox
from tests import processes
from tests.bulk import queue_emails
from tests.conftest import SECRET_KEY

MAIL_FROM = "Outpost <no-reply@outpost.test>"


def main() -> int:
    """Measure and print both rates, their ratio and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()

    with sink_process() as port, postgres_database("outpost_drain") as url:
        engine = create_engine_for(url)
        queue_emails(engine, args.messages, prefix="drain")
        bare = bare_rate(engine, port, args.messages)
        relay = relay_rate(engine, url, port, args.messages)
        engine.dispose()

    print(machine())
    print(
        f"messages: {args.messages} welcome emails (text + HTML), aiosmtpd Sink in its own process"
    )
    print(f"bare smtplib loop, one connection, pre-rendered: {bare:.0f} messages/s")
    print(f"relay (outbox-relay run, default settings):      {relay:.0f} messages/s")
    print(f"ratio relay / bare: {relay / bare:.2f}")
    print(f"command: {' '.join([sys.executable, '-m', 'bench.relay_drain', *sys.argv[1:]])}")
    return 0


def bare_rate(engine: Engine, port: int, count: int) -> float:
    """Messages per second of one smtplib connection sending the rows' rendered messages."""
    box = SecretBox(SECRET_KEY)
    now = utcnow()
    rows = store.claim(engine, now=now, limit=count, lease_seconds=3600)
    messages = [compose(row, box, MAIL_FROM) for row in rows]
    emails = [message for message in messages if isinstance(message, Email)]
    store.release(engine, rows, now)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for email in emails:
            smtp.sendmail(email.sender, [email.recipient], email.data)
    return len(emails) / (time.perf_counter() - started)


def relay_rate(engine: Engine, url: str, port: int, count: int) -> float:
    """Messages per second of `outbox-relay run` delivering the `count` pending rows."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-drain-"))
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_FROM": MAIL_FROM,
        "RELAY_METRICS_PORT": "0",
    }
    started = time.perf_counter()
    relay = processes.relay(env, workdir)
    try:
        while pending(engine):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        processes.stop(relay)
    return count / elapsed


if __name__ == "__main__":
    sys.exit(main())
