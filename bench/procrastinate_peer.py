"""procrastinate as a peer of Outpost: its schema, its defer in the caller's transaction, and
a worker sending the activation mail.

`python -m bench.procrastinate_peer URL SMTP_PORT CONCURRENCY` runs the worker until killed:
one worker (LISTEN/NOTIFY) with `concurrency` CONCURRENCY, the task synchronous (procrastinate
runs it in a thread of the event loop's executor, which the worker is given CONCURRENCY of).
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import procrastinate
import psycopg

from bench.peer_mail import Mailer

DOMAIN = "procrastinate.test"
TASK = "activation"
# Jobs not yet fetched by a worker.
WAITING = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"


# Deferring on the caller's connection, by the task's name: its connector is never opened.
_DEFERRING = procrastinate.App(connector=procrastinate.PsycopgConnector())


def install(url: str) -> None:
    """procrastinate's schema, in the database at libpq `url`."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(procrastinate.schema.SchemaManager.get_schema())


def enqueue(connection: psycopg.Connection[tuple[object, ...]], payloads: list[bytes]) -> None:
    """Defer jobs in the transaction open on `connection` (procrastinate's `connection=`
    option): they are seen only if it commits."""
    task = _DEFERRING.configure_task(TASK, connection=connection)
    for payload in payloads:
        task.defer(job=payload.decode())


async def work(url: str, port: int, concurrency: int) -> None:
    """Fetch and send until killed."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency))
    mailer = Mailer(port, DOMAIN)

    def activation(job: str) -> None:
        mailer.send(job.encode())

    application = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    application.task(name=TASK)(activation)
    async with application.open_async():
        await application.run_worker_async(concurrency=concurrency, install_signal_handlers=False)


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
