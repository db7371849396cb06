"""Relay drain rate against a bare smtplib loop, same messages, same SMTP server, same run.

Run from the repository root: `.venv/bin/python -m bench.relay_drain [--messages N]`.

The bare loop sends the pre-rendered messages over one reused connection; the relay is
`outbox-relay run` with its default settings, timed from its first claim to the moment every
row is `sent` (and, for reference, from its start). Both run twice, each time against an SMTP
server in a process of its own: aiosmtpd's discarding Sink, the tests' server, for the target;
then the benches' lean server (bench/smtp_server.py), whose own work per message is a fraction
of aiosmtpd's, so that the bare loop is bounded by smtplib itself and the relay's own cost of a
message (claim, decrypt, render, mark) shows in full.
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, exists, func, select

from bench.common import aiosmtpd_sink, command, machine, pending, postgres_database, sink_process
from bench.cpu import TICKS_PER_SECOND, cpu_ticks, tree_ticks
from outbox_relay import claims, releases
from outbox_relay.channels import Email
from outbox_relay.compose import compose
from outbox_relay.render import Templates
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import outbox
from shared.secrets.secretbox import SecretBox
from shared.settings.mail_values import mail_from
from support import processes
from support.bulk import queue_emails
from support.constants import SECRET_KEY

MAIL_FROM = "Outpost <no-reply@outpost.test>"


SERVERS: tuple[tuple[str, Callable[[], AbstractContextManager[int]]], ...] = (
    ("aiosmtpd's Sink, the tests' SMTP server (the target's)", aiosmtpd_sink),
    ("the benches' lean server (bench/smtp_server.py)", sink_process),
)


def main() -> int:
    """Measure and print both rates and their ratio against each server, and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()

    figures = []
    with postgres_database("outpost_drain") as url:
        engine = create_engine_for(url)
        for n, (_name, server) in enumerate(SERVERS):
            with server() as port:
                queue_emails(engine, args.messages, prefix=f"drain{n}-")
                bare = bare_rate(engine, port, args.messages)
                figures.append((bare, relay_rate(engine, url, port, args.messages)))
        engine.dispose()

    print(machine())
    print(f"messages: {args.messages} welcome emails (text + HTML) for each server")
    for (name, _server), (bare, relay) in zip(SERVERS, figures, strict=True):
        print(f"{name}:")
        print(f"  bare smtplib loop, one connection, pre-rendered: {bare.rate:.0f} messages/s")
        print(
            f"  relay (outbox-relay run, default settings):      {relay.rate:.0f} messages/s "
            f"from its first claim ({relay.with_start:.0f} from its start)"
        )
        print(
            f"  ratio relay / bare: {relay.rate / bare.rate:.2f} "
            f"({relay.with_start / bare.rate:.2f} from its start)"
        )
        print(
            f"  CPU a message: the relay {relay.cpu_ms:.2f} ms from its first claim (claim, "
            f"decrypt, render, send, record), the bare loop {bare.cpu_ms:.2f} ms (send); "
            f"PostgreSQL {relay.database_ms:.2f} ms beside the relay"
        )
    print(
        "targets: the relay reaches at least 0.7 of the bare loop's rate against aiosmtpd, "
        "0.8 against the lean server"
    )
    print(command("bench.relay_drain"))
    return 0


def bare_rate(
    engine: Engine,
    port: int,
    count: int,
    session: Callable[[int], smtplib.SMTP] = lambda port: smtplib.SMTP("127.0.0.1", port),
) -> Drain:
    """One smtplib connection (`session`, ready for MAIL FROM) sending the rows' rendered
    messages: messages per second, and the CPU it spent a message."""
    box = SecretBox(SECRET_KEY)
    now = utcnow()
    with closing(claims.Claimer(engine)) as claimer:
        rows = claimer.claim(now=now, limit=count, lease_seconds=3600)
    templates = Templates()
    sender = mail_from(MAIL_FROM)
    messages = [compose(row, box, sender, templates) for row in rows]
    emails = [message for message in messages if isinstance(message, Email)]
    releases.release(engine, rows, now)
    started, cpu = time.perf_counter(), time.process_time()
    with session(port) as smtp:
        for email in emails:
            smtp.sendmail(email.sender, [email.recipient], email.data)
    rate = len(emails) / (time.perf_counter() - started)
    return Drain(rate, rate, (time.process_time() - cpu) / len(emails) * 1000, 0.0)


@dataclass(frozen=True)
class Drain:
    """Messages per second of one drain, timed from the first claim and from the start, and the
    CPU the sender and PostgreSQL (all of the machine's) spent a message from its first claim,
    in milliseconds."""

    rate: float
    with_start: float
    cpu_ms: float
    database_ms: float


def relay_rate(engine: Engine, url: str, port: int, count: int, **settings: str) -> Drain:
    """`outbox-relay run` delivering the `count` pending rows, `settings` added to its
    environment.

    Its start (an interpreter importing its modules, 0.7 s here) is no part of draining: the
    rate is timed from the moment its first claim commits; the other figure includes it.
    """
    workdir = Path(tempfile.mkdtemp(prefix="outpost-drain-"))
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_FROM": MAIL_FROM,
        "RELAY_METRICS_PORT": "0",
        **settings,
    }
    if "MAIL_URL" in settings:  # an API in SMTP_URL's slot (bench/mail_api_latency.py)
        del env["SMTP_URL"]
    started = time.perf_counter()
    relay = processes.relay(env, workdir)
    try:
        wait_for(lambda: claimed(engine), relay, 0.002)
        first_claim, ticks = time.perf_counter(), tree_ticks(relay.pid)
        database_ticks = cpu_ticks()["PostgreSQL"]
        wait_for(lambda: not pending(engine), relay, 0.05)
        finished, cpu = time.perf_counter(), (tree_ticks(relay.pid) - ticks) / TICKS_PER_SECOND
        database = (cpu_ticks()["PostgreSQL"] - database_ticks) / TICKS_PER_SECOND
    finally:
        processes.stop(relay)
    rate, with_start = count / (finished - first_claim), count / (finished - started)
    return Drain(rate, with_start, cpu / count * 1000, database / count * 1000)


def claimed(engine: Engine) -> bool:
    """Whether a relay has claimed a pending row (its next attempt moves to its lease's end)."""
    due_later = outbox.c.status == "pending", outbox.c.next_attempt_at > func.now()
    with engine.connect() as connection:
        return bool(connection.execute(select(exists().where(*due_later))).scalar_one())


def wait_for(check: Callable[[], bool], relay: subprocess.Popen[bytes], interval: float) -> None:
    """Poll `check` until it holds; fail if the relay exits first."""
    while not check():
        if relay.poll() is not None:
            raise RuntimeError(f"the relay exited with {relay.returncode}")
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
