"""The contestants of bench/peers.py: Outpost and two job queues, each with its own database,
its transactional enqueue beside a user row, and its worker process.

Each writer commits a user row (bench/signups.py) and its activation job in one transaction, as
Outpost's API commits an account and its outbox row.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from subprocess import Popen
from typing import Protocol

import psycopg
from sqlalchemy import Connection

from bench import pgqueuer_peer, procrastinate_peer
from bench.common import postgres_database
from bench.peer_mail import payload
from bench.signups import INSERT_USER, add_schema
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.messaging.outbox import enqueue
from shared.messaging.suppressions import Suppressor
from shared.secrets.secretbox import SecretBox
from shared.vocabulary import Channel, Purpose
from support import processes
from support.constants import SECRET_KEY
from support.databases import create_database, drop_database, libpq_url, url_of

# A sign-up: the new user's address and their activation code.
Person = tuple[str, str]


class Writer(Protocol):
    """Commits sign-ups, each user row beside its job; answers the messages' keys."""

    def sign_up(self, people: list[Person]) -> list[str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Contestant:
    """How to give one contestant a database, write to it, and run its worker."""

    name: str
    domain: str  # of its Message-IDs, which tell its mail apart at the SMTP server
    database: Callable[[], AbstractContextManager[str]]  # yields its SQLAlchemy URL
    writer: Callable[[str], Writer]
    # Its worker on (database URL, SMTP port, concurrency), started and stopped.
    worker: Callable[[str, int, int], AbstractContextManager[Popen[bytes]]]
    waiting: str  # SQL counting the jobs no worker has taken yet


class OutpostWriter:
    """Outpost's writer, shared.messaging.outbox.enqueue, as the API's registration calls it."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine_for(url)
        self._box = SecretBox(SECRET_KEY)
        self._suppressor = Suppressor.under(SECRET_KEY)

    def sign_up(self, people: list[Person]) -> list[str]:
        """One transaction: each user row and its outbox row."""
        with self._engine.begin() as connection:
            return [self._one(connection, email, code) for email, code in people]

    def _one(self, connection: Connection, email: str, code: str) -> str:
        now = utcnow()
        key = enqueue(
            connection,
            self._box,
            now=now,
            channel=Channel.EMAIL,
            purpose=Purpose.ACTIVATION,
            recipient=email,
            recipient_hash=self._suppressor.hash(email),
            locale="en",
            params={"expires_minutes": 60},
            secret_params={"code": code},
            expires_at=now + timedelta(hours=1),
        ).id
        connection.exec_driver_sql(INSERT_USER, {"email": email, "key": key})
        return key

    def close(self) -> None:
        """Dispose of the engine."""
        self._engine.dispose()


class PeerWriter:
    """A job queue's writer: on a psycopg connection, the user rows and `enqueue`'s jobs in one
    `connection.transaction()`."""

    def __init__(
        self,
        url: str,
        enqueue: Callable[[psycopg.Connection[tuple[object, ...]], list[bytes]], None],
    ) -> None:
        self._connection = psycopg.connect(libpq_url(url), autocommit=True)
        self._enqueue = enqueue

    def sign_up(self, people: list[Person]) -> list[str]:
        """One transaction: the user rows and their jobs."""
        keys = [str(uuid.uuid4()) for _ in people]
        with self._connection.transaction():
            for (email, _code), key in zip(people, keys, strict=True):
                self._connection.execute(INSERT_USER, {"email": email, "key": key})
            self._enqueue(
                self._connection,
                [
                    payload(key, email, code)
                    for (email, code), key in zip(people, keys, strict=True)
                ],
            )
        return keys

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


@contextmanager
def outpost_database() -> Iterator[str]:
    """A database migrated to head, with the sign-ups table."""
    with postgres_database("outpost_peers_outpost") as url:
        add_schema(libpq_url(url))
        yield url


def peer_database(
    prefix: str, install: Callable[[str], None]
) -> Callable[[], AbstractContextManager[str]]:
    """A fresh database with a job queue's schema (`install`) and the sign-ups table."""

    @contextmanager
    def database() -> Iterator[str]:
        name = create_database(prefix)
        try:
            url = url_of(name)
            install(libpq_url(url))
            add_schema(libpq_url(url))
            yield url
        finally:
            drop_database(name)

    return database


@contextmanager
def outpost_relay(url: str, port: int, concurrency: int) -> Iterator[Popen[bytes]]:
    """`outbox-relay run` with its defaults but `RELAY_CONCURRENCY`."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-peers-"))
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "RELAY_METRICS_PORT": "0",
        "RELAY_CONCURRENCY": str(concurrency),
    }
    relay = processes.relay(env, workdir)
    try:
        yield relay
    finally:
        processes.stop(relay)


def peer_worker(module: str) -> Callable[[str, int, int], AbstractContextManager[Popen[bytes]]]:
    """`python -m MODULE URL PORT CONCURRENCY`, a peer's worker, stopped by SIGTERM."""

    @contextmanager
    def worker(url: str, port: int, concurrency: int) -> Iterator[Popen[bytes]]:
        workdir = Path(tempfile.mkdtemp(prefix="outpost-peers-"))
        command = [sys.executable, "-m", module, libpq_url(url), str(port), str(concurrency)]
        # From the repository's root, where `bench` is found; its log beside the others.
        process = processes.start(command, {}, processes.ROOT, workdir / "worker.log")
        try:
            yield process
        finally:
            processes.stop(process)

    return worker


CONTESTANTS = (
    Contestant(
        "Outpost (outbox-relay run)",
        "outpost.test",
        outpost_database,
        OutpostWriter,
        outpost_relay,
        "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()",
    ),
    Contestant(
        "PgQueuer",
        pgqueuer_peer.DOMAIN,
        peer_database("outpost_peers_pgqueuer", pgqueuer_peer.install),
        lambda url: PeerWriter(url, pgqueuer_peer.enqueue),
        peer_worker("bench.pgqueuer_peer"),
        pgqueuer_peer.WAITING,
    ),
    Contestant(
        "procrastinate",
        procrastinate_peer.DOMAIN,
        peer_database("outpost_peers_procrastinate", procrastinate_peer.install),
        lambda url: PeerWriter(url, procrastinate_peer.enqueue),
        peer_worker("bench.procrastinate_peer"),
        procrastinate_peer.WAITING,
    ),
)
