"""What each connection of an engine does: bounded transactions, a ping after an idle spell,
a read-only server read as away, and SQLite's pragmas and write lock (shared.database.db
listens)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shared.database.bounds import PING_TIMEOUT, BoundedConnection, read_only

# A pooled connection idle longer than this is pinged before use. One back from use more
# recently is handed out as it is (HikariCP's aliveBypassWindowMs does the same), so a busy
# worker does not pay a round trip per unit of work; if the server did drop it meanwhile, the
# statement fails as a disconnect and the pool is refreshed.
PING_AFTER_IDLE_SECONDS = 1.0


def read_only_is_away(context: ExceptionContext) -> None:
    """A server refusing writes is a disconnect: the connection and the pool's others are
    dropped (they lead to the demoted leader or a standby), and the error reads as a database
    away (the API's 503 with Retry-After, the relay's wait), never as a fault of the request."""
    if read_only(context.original_exception):
        context.is_disconnect = True


def bounded_connection(
    bound: float, _dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> BoundedConnection:
    """A new psycopg connection whose transactions end within `bound` (shared.database.bounds)."""
    return BoundedConnection.open(bound, *cargs, **cparams)


def bound_from(connection: Connection, started: float) -> None:
    """Count the connection's next transaction's bound from `started` (time.monotonic()):
    the time the caller spent waiting for it (a ping, a connect) is part of its bound."""
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, BoundedConnection):
        dbapi_connection.start(started)


def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Note when the connection was last known alive: made, or back from use."""
    record.info["checked_in"] = time.monotonic()


def ping_if_idle(
    dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Ping a connection that sat idle; a dead one is replaced before anyone uses it."""
    if time.monotonic() - record.info["checked_in"] <= PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.autocommit = True
        dbapi_connection.limit(PING_TIMEOUT)
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        # The pool retries the checkout with a new connection.
        raise exc.DisconnectionError() from error
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = False


def sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any, *, busy_ms: int) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction begins (see sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


def sqlite_on_begin(connection: Any) -> None:
    # Take the write lock up front: a read lock upgraded later fails at once with SQLITE_BUSY
    # instead of waiting, which would turn concurrent registrations into errors.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
