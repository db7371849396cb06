"""Creating and dropping throwaway PostgreSQL databases, for the tests and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import psycopg

from shared.settings.database_url import normalise_database_url
from support.copy_reset import Baseline

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def libpq_url(url: str) -> str:
    """The URL as libpq (psycopg.connect) reads it."""
    return normalise_database_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the server of TEST_DATABASE_URL."""
    return psycopg.connect(libpq_url(PG_URL), autocommit=True, connect_timeout=5)


def url_of(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the same server."""
    return f"{normalise_database_url(PG_URL).rpartition('/')[0]}/{name}"


def create_database(prefix: str, template: str | None = None) -> str:
    """A new database with a random name (a copy of `template` if given); its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin() as connection:
        connection.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


def drop_database(name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""
    with admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Drops at a time: beside two CPU burners, 24 drops took 2.0 s each one at a time, 0.85 s each
# four at a time, 0.73 s eight at a time.
DROPPERS = 4
# Most drops left waiting when a test takes a copy: past it, the test waits for the oldest, so
# that a session's end never waits for more than a few. Beside two CPU burners a drop took about
# a second, and one worker's backlog outgrew the 120 s its last test's teardown is given.
BACKLOG = 2 * DROPPERS


class Copies:
    """Copies of a template database made ahead on a thread, given back by each test, and
    reset there for another or dropped behind on others.

    CREATE DATABASE and DROP DATABASE wait mostly on the server (a quarter to half a second
    each on a CI runner) and cost it 120 to 140 ms of CPU a pair: a copy a test gave back with
    only rows is renamed (whoever still holds its old name can no longer reach it), emptied and
    given its template's rows (support.copy_reset), about 20 ms; any other is dropped and a new
    one made. Either is done while the next tests run, so a copy is ready when a test asks.
    Drops run DROPPERS at a time (concurrent drops share the checkpoint each waits for): one at
    a time, they fell behind the tests beside two CPU burners, and the session's end waited past
    a test's timeout for the backlog; four at a time they still could, so a test waits for drops
    past BACKLOG before its copy.
    """

    def __init__(self, template: str, prefix: str, ahead: int = 2) -> None:
        self._template = template
        self._prefix = prefix
        self._ahead = ahead
        self._making = ThreadPoolExecutor(1, thread_name_prefix="database-copies")
        self._dropping = ThreadPoolExecutor(DROPPERS, thread_name_prefix="database-drops")
        self._drops: list[Future[None]] = []
        # The template's, before any copy is made (a copy of a database in use is refused). None
        # when this server refuses its reading (a role that may not read pg_statistic): every
        # copy is then dropped.
        self._baseline: Baseline | None = None
        with contextlib.suppress(psycopg.Error), _on(template) as connection:
            self._baseline = Baseline.read(connection)
        self._ready = deque(self._making.submit(self._fresh) for _ in range(ahead))

    def take(self) -> str:
        """A copy in its template's state, once no more than BACKLOG drops wait; another one
        started meanwhile when fewer than `ahead` are on their way."""
        waiting = [drop for drop in self._drops if not drop.done()]
        for drop in waiting[: len(waiting) - BACKLOG]:
            drop.result()
        name = self._ready.popleft().result()
        if len(self._ready) < self._ahead:
            self._ready.append(self._making.submit(self._fresh))
        return name

    def give_back(self, name: str) -> None:
        """A test's copy, reset for a later test once the making thread gets to it, or dropped."""
        self._ready.append(self._making.submit(self._reset_or_fresh, name))

    def close(self) -> None:
        """Drop every copy, wait for every drop, and raise the first that failed."""
        while self._ready:
            self._drop(self._ready.popleft().result())
        self._making.shutdown()
        self._dropping.shutdown()
        for drop in self._drops:
            drop.result()

    def _fresh(self) -> str:
        return create_database(self._prefix, self._template)

    def _reset_or_fresh(self, used: str) -> str:
        if self._baseline is None:
            self._drop(used)
            return self._fresh()
        renamed = f"{self._prefix}_{uuid.uuid4().hex[:10]}"
        try:
            with admin() as connection:
                connection.execute(_TERMINATE, (used,))
                connection.execute(f'ALTER DATABASE "{used}" RENAME TO "{renamed}"')
        except psycopg.Error:
            self._drop(used)
            return self._fresh()
        with contextlib.suppress(psycopg.Error), _on(renamed) as connection:
            if self._baseline.reset(connection):
                return renamed
        self._drop(renamed)
        return self._fresh()

    def _drop(self, name: str) -> None:
        self._drops.append(self._dropping.submit(drop_database, name))


# Every session on a database, ended; each waited for up to 10 s (PostgreSQL 14 and later).
_TERMINATE = """
SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
    WHERE datname = %s AND pid <> pg_backend_pid()
"""


def _on(name: str) -> psycopg.Connection[tuple[object, ...]]:
    """A connection, in a transaction, to database `name`."""
    return psycopg.connect(libpq_url(url_of(name)), connect_timeout=5)


@contextmanager
def refusing_writes(name: str) -> Iterator[None]:
    """Database `name` refusing writes in every session opened meanwhile (SQLSTATE 25006), as a
    standby or a demoted leader does."""
    with admin() as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        yield
    finally:
        with admin() as connection:
            connection.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
