"""PgQueuer as a peer of Outpost: its schema, its enqueue in the caller's transaction, and a
worker sending the activation mail.

`python -m bench.pgqueuer_peer URL SMTP_PORT CONCURRENCY` runs the worker until killed: one
QueueManager on an asyncpg connection (LISTEN/NOTIFY), its default batch of 10, the
entrypoint's concurrency limited to CONCURRENCY and as many threads sending (PgQueuer runs
async entrypoints only; blocking smtplib goes to a thread, as its error message advises).

The worker is on asyncpg, PgQueuer's first driver: its psycopg driver waits for notifications
holding the connection for up to a second, so that every other query of the worker waited
behind it (a drain of 20 messages a second, a dequeue taking 1 s). The enqueue stays on
psycopg, the application's driver here, through PgQueuer's synchronous queries.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import psycopg
from pgqueuer import AsyncpgDriver, Job, PsycopgDriver, Queries, QueueManager
from pgqueuer.db import SyncPsycopgDriver
from pgqueuer.queries import SyncQueries

from bench.peer_mail import Mailer

DOMAIN = "pgqueuer.test"
ENTRYPOINT = "activation"
# Jobs not yet dequeued: a picked job leaves `queued`, a finished one the table.
WAITING = "SELECT count(*) FROM pgqueuer WHERE status = 'queued'"


def install(url: str) -> None:
    """PgQueuer's tables, functions and trigger, in the database at libpq `url`."""

    async def run() -> None:
        connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        async with connection:
            await Queries(PsycopgDriver(connection)).install()

    asyncio.run(run())


def enqueue(connection: psycopg.Connection[tuple[object, ...]], payloads: list[bytes]) -> None:
    """Add jobs in the transaction open on `connection` (autocommit, as PgQueuer requires,
    inside `connection.transaction()`): they are seen only if it commits."""
    SyncQueries(SyncPsycopgDriver(connection)).enqueue(
        [ENTRYPOINT] * len(payloads), list[bytes | None](payloads), [0] * len(payloads)
    )


async def work(url: str, port: int, concurrency: int) -> None:
    """Dequeue and send until killed."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency))
    mailer = Mailer(port, DOMAIN)

    async def activation(job: Job) -> None:
        assert job.payload is not None
        await asyncio.to_thread(mailer.send, job.payload)

    connection = await asyncpg.connect(url)
    manager = QueueManager(Queries(AsyncpgDriver(connection)))
    manager.entrypoint(ENTRYPOINT, concurrency_limit=concurrency)(activation)
    await manager.run()


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
