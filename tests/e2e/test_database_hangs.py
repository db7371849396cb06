"""A database that hangs: commits waiting for a synchronous standby that is gone, or a server that
answers nothing. Every request is answered within DATABASE_TIMEOUT, the relay stops on SIGTERM
within its lease, its gauges say they do not know, and once the database is back nothing
acknowledged is lost."""

from __future__ import annotations

import math
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from shared.database.bounds import DatabaseTimeout
from shared.database.db import create_engine_for, migrate
from shared.database.models import users
from support import private_postgres, processes
from support.constants import SECRET_KEY
from support.ports import free_port
from support.private_postgres import PrivatePostgres
from support.smtp_sink import SinkServer, code_in

pytestmark = pytest.mark.postgresql_only

TIMEOUT = 2.0
LEASE = 8
# What an answer may take beyond DATABASE_TIMEOUT: the password hash, on two busy cores.
SLACK = 1.0
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    """A migrated cluster of our own, whose commits wait for any synchronous standby named."""
    if not private_postgres.available():
        pytest.fail(f"PostgreSQL 15's initdb and pg_ctl are needed in {private_postgres.BIN}")
    with PrivatePostgres({"synchronous_commit": "on"}) as server:
        migrate(server.sqlalchemy_url)
        yield server


class Stack:
    """gunicorn and a relay on the cluster, delivering to an SMTP sink."""

    def __init__(self, cluster: PrivatePostgres, cwd: Path) -> None:
        self.cwd = cwd
        self.sink = SinkServer()
        self.sink.start()
        self.metrics = f"http://127.0.0.1:{free_port()}/metrics"
        self.env = {
            "DATABASE_URL": cluster.url,
            "DATABASE_TIMEOUT": str(TIMEOUT),
            "SECRET_KEY": SECRET_KEY,
            # A send bounded well inside the short lease, as the relay requires.
            "SMTP_URL": self.sink.url(timeout=2),
            "MAIL_FROM": "Outpost <no-reply@outpost.test>",
            "RELAY_LEASE_SECONDS": str(LEASE),
            "RELAY_POLL_INTERVAL": "0.2",
            "RELAY_BACKOFF_BASE": "0.001",
            "RELAY_BACKOFF_CAP": "0.002",
            "RELAY_METRICS_PORT": self.metrics.split(":")[2].split("/")[0],
            "IP_RATE_LIMIT": "100000",
            "THROTTLE_COOLDOWN": "1",
        }
        self.url = f"http://127.0.0.1:{free_port()}"
        self.api = processes.gunicorn(self.env, int(self.url.rsplit(":", 1)[1]), cwd)
        self.relays: list[subprocess.Popen[bytes]] = []
        self.start_relay()
        processes.wait_http(f"{self.url}/readyz", self.api)
        processes.wait_http(self.metrics, self.relays[-1])

    def start_relay(self) -> None:
        """Another `outbox-relay run`, in a directory (and log) of its own."""
        cwd = self.cwd / f"relay-{len(self.relays)}"
        cwd.mkdir()
        self.relays.append(processes.relay(self.env, cwd))

    def register(self, email: str) -> processes.Answer:
        """POST a registration for `email`."""
        return processes.post(
            f"{self.url}/v1/registrations", {"email": email, "password": PASSWORD}
        )

    def registered_within_the_bound(self, emails: list[str]) -> list[processes.Answer]:
        """Register the addresses two at a time: each answered 202, or 503 with Retry-After, in
        time.

        In time as gunicorn's access log times each request, from the worker's accepting it:
        the API's own bound. The client's clock also counts the wait for a worker, which a
        request may spend behind the other's whole bound when the kernel hands both to one
        worker while the other is off the cores (most likely what CI saw once: 4.0 s for one
        answer); so the client gets one bound more.
        """
        log = self.cwd / "gunicorn.log"
        logged = len(_registrations(log))
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(self.register, emails))
        processes.eventually(
            lambda: len(_registrations(log)) >= logged + len(emails), 10, "the access log"
        )
        served = _registrations(log)[logged:]
        assert all(ms < (TIMEOUT + SLACK) * 1000 for ms in served), served
        for answer in answers:
            assert answer.status in (202, 503), answer
            assert answer.seconds < 2 * TIMEOUT + SLACK, answer
            if answer.status == 503:
                assert answer.headers["Retry-After"], answer
                assert answer.body["type"].endswith("/service-unavailable")
        return answers

    def not_ready_within_2s(self) -> None:
        """/readyz answers 503 in under 2 s."""
        started = time.perf_counter()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{self.url}/readyz", timeout=5)
        assert refused.value.code == 503
        assert time.perf_counter() - started < 2.0

    def relay_stops_within_its_lease(self) -> None:
        """SIGTERM: the relay exits 0 before its lease would lapse."""
        started = time.monotonic()
        assert processes.stop(self.relays[-1], timeout=LEASE + 5) == 0
        assert time.monotonic() - started < LEASE

    def gauge(self, name: str) -> float:
        """The value of one of the relay's gauges, as /metrics says it."""
        with urllib.request.urlopen(self.metrics, timeout=2) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        raise AssertionError(f"{name} not exported")

    def activated(self, email: str) -> None:
        """The newest mail to `email` carries a code that activates its account."""
        mail = [m for m in self.sink.sink.received if m["To"] == email][-1]
        code = code_in(mail)
        answer = processes.post(f"{self.url}/v1/activations", {"email": email, "code": code})
        assert answer.status == 200, (email, answer)

    def close(self) -> None:
        try:
            for relay in self.relays:
                processes.stop(relay)
        finally:
            processes.stop(self.api)
            self.sink.stop()


def _registrations(log: Path) -> list[int]:
    """The milliseconds gunicorn's access log gives each registration so far, in order."""
    entries = processes.json_lines(log) if log.exists() else []
    return [
        int(entry["message"].rsplit(" ", 1)[1].removesuffix("ms"))
        for entry in entries
        if entry["logger"] == "gunicorn.access" and '"POST /v1/registrations"' in entry["message"]
    ]


@pytest.fixture
def stack(cluster: PrivatePostgres, tmp_path: Path) -> Iterator[Stack]:
    """The API and a relay, on a cluster that commits and answers; as such again after."""
    stack = Stack(cluster, tmp_path)
    try:
        yield stack
    finally:
        cluster.thaw()
        cluster.configure("synchronous_standby_names", None)
        stack.close()


def accounts(cluster: PrivatePostgres, email: str) -> int:
    """How many accounts the address has."""
    engine = create_engine_for(cluster.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(users).where(users.c.email == email)
            return int(connection.scalar(query) or 0)
    finally:
        engine.dispose()


def retried_until_accepted(stack: Stack, email: str) -> processes.Answer:
    """Register `email` again as a client would, after each Retry-After, until a 202."""
    for _ in range(10):
        answer = stack.register(email)
        if answer.status == 202:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    raise AssertionError(f"{email} never accepted: {answer}")


def delivered(stack: Stack, accepted: list[processes.Answer]) -> None:
    """Every acknowledged message reaches the SMTP server, by its Message-ID."""
    wanted = {answer.body["delivery"]["id"] for answer in accepted}

    def all_there() -> bool:
        seen = {
            mail["Message-ID"].strip("<>").partition("@")[0] for mail in stack.sink.sink.received
        }
        return wanted <= seen

    processes.eventually(all_there, timeout=20, what="every acknowledged message delivered")


def test_commits_waiting_for_a_gone_standby_are_answered_in_time_and_recover(
    cluster: PrivatePostgres, stack: Stack
) -> None:
    before = stack.register("before@example.com")
    assert before.status == 202
    cluster.configure("synchronous_standby_names", "gone")

    emails = [f"hung{n}@example.com" for n in range(4)]
    answers = stack.registered_within_the_bound(emails)
    assert any(answer.status == 503 for answer in answers)
    stack.not_ready_within_2s()
    stack.relay_stops_within_its_lease()

    cluster.configure("synchronous_standby_names", None)
    stack.start_relay()
    accepted = [before] + [a for a in answers if a.status == 202]
    accepted += [
        retried_until_accepted(stack, e)
        for e, a in zip(emails, answers, strict=True)
        if a.status != 202
    ]
    delivered(stack, accepted)
    for email in emails:
        assert accounts(cluster, email) == 1
        stack.activated(email)


def test_a_server_that_answers_nothing_is_answered_in_time_and_recovers(
    cluster: PrivatePostgres, stack: Stack
) -> None:
    before = stack.register("early@example.com")
    assert before.status == 202
    processes.eventually(lambda: stack.gauge("outpost_relay_pending_messages") == 0, timeout=10)
    cluster.freeze()

    emails = [f"frozen{n}@example.com" for n in range(4)]
    answers = stack.registered_within_the_bound(emails)
    assert all(answer.status == 503 for answer in answers)
    stack.not_ready_within_2s()
    processes.eventually(
        lambda: math.isnan(stack.gauge("outpost_relay_pending_messages")),
        # The relay's loop meets the frozen server statement by statement, each given up after
        # DATABASE_TIMEOUT: several in turn on a loaded machine before the backlog's read fails.
        timeout=LEASE + 10 * TIMEOUT,
        what="the pending gauge says it does not know",
    )
    assert math.isnan(stack.gauge("outpost_relay_oldest_due_age_seconds"))
    stack.relay_stops_within_its_lease()

    cluster.thaw()
    stack.start_relay()
    accepted = [before] + [retried_until_accepted(stack, email) for email in emails]
    delivered(stack, accepted)
    for email in emails:
        assert accounts(cluster, email) == 1
        stack.activated(email)


def test_a_commit_whose_wait_for_the_standby_someone_else_cancelled_is_not_reported_done(
    cluster: PrivatePostgres,
) -> None:
    """PostgreSQL reports such a COMMIT done, with a WARNING: it may not be on the standby."""
    engine = create_engine_for(cluster.sqlalchemy_url, timeout=30)
    cluster.configure("synchronous_standby_names", "gone")
    try:
        with engine.connect() as connection:
            pid = connection.scalar(text("SELECT pg_backend_pid()"))
            connection.execute(text("SELECT pg_logical_emit_message(true, 'test', 'write')"))
            with ThreadPoolExecutor(1) as operator, psycopg.connect(cluster.url) as other:

                def cancel_once_waiting() -> None:
                    waiting = "SELECT wait_event FROM pg_stat_activity WHERE pid = %s"
                    processes.eventually(
                        lambda: other.execute(waiting, (pid,)).fetchone() == ("SyncRep",),
                        what="the commit waits for the standby",
                    )
                    other.execute("SELECT pg_cancel_backend(%s)", (pid,))

                cancelled = operator.submit(cancel_once_waiting)
                with pytest.raises(OperationalError) as refused:
                    connection.commit()
                cancelled.result()
        assert isinstance(refused.value.orig, DatabaseTimeout)
        assert "commit not confirmed" in str(refused.value.orig)
    finally:
        cluster.configure("synchronous_standby_names", None)
        engine.dispose()
