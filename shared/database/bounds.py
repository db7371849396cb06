"""Bounded database work: PostgreSQL connections whose every transaction ends within its bound."""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

import psycopg
from psycopg import errors, pq
from psycopg.abc import PQGen

log = logging.getLogger(__name__)

RV = TypeVar("RV")

# Seconds an operator command's or a purge's transaction may take, and a migration.
OPERATOR_TIMEOUT = 300.0
MIGRATION_TIMEOUT = 3600.0
# Seconds any connect may take: the longer bounds are for work, not for reaching the server.
LONGEST_CONNECT = 10.0
# Seconds a pooled connection's liveness ping may take: a server that answers at all answers
# it at once, and a request waits for it before its own transaction.
PING_TIMEOUT = 0.5
# psycopg's: how often a wait looks up from the socket.
_WAIT_INTERVAL = 0.1


class DatabaseTimeout(psycopg.OperationalError):
    """Work outlived its bound: cancelled or its connection dropped; a COMMIT may or may not
    have taken (the caller answers as for a database that is away, and a retry is safe)."""


def read_only(error: BaseException) -> bool:
    """Whether `error` is a server refusing writes (SQLSTATE 25006: a demoted leader, a standby):
    for the connection, the database is as good as away; the next connects to the primary."""
    return isinstance(error, errors.ReadOnlySqlTransaction)


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose transactions (statements, in autocommit) end within `bound`.

    PostgreSQL's statement_timeout cannot do it: the server disarms it before COMMIT, whose wait
    for a synchronous standby then lasts as long as the standby is away, and a stopped server
    acts on nothing. So the client keeps the time, from the transaction's first wait (or an
    earlier `start`) until it is over: shortly before the bound the server is asked to cancel
    (a lock wait, a COMMIT waiting for a standby: the backend is freed), and at the bound a
    connection still without an answer is dropped. What ends past a cancel raises
    DatabaseTimeout even if the server says done, as a COMMIT does once its wait for the
    standby is cancelled ("the transaction has already committed locally, but might not have
    been replicated"); so does a COMMIT that drew any WARNING (the same wait cancelled by an
    operator).
    """

    bound: float | None = None
    _deadline: float | None = None
    _committing = False
    _warning: str | None = None

    @classmethod
    def open(cls, bound: float, *args: Any, **kwargs: Any) -> BoundedConnection:
        """Connect, as psycopg.connect does, with `bound` seconds for each transaction."""
        connection = cls.connect(*args, **kwargs)
        connection.bound = bound
        connection.add_notice_handler(connection._on_notice)
        return connection

    def start(self, started: float) -> None:
        """Count the next transaction's bound from `started` (when the caller began to wait
        for this connection), unless one is under way."""
        if self.bound is not None:
            self.limit(started + self.bound - time.monotonic())

    def limit(self, seconds: float) -> None:
        """Bound the next transaction (a ping) by `seconds` from now, unless one is under way."""
        if self._deadline is None:
            self._deadline = time.monotonic() + seconds

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        """psycopg's wait, within the transaction's bound (psycopg's own timed waits as asked)."""
        if self.bound is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        self.start(time.monotonic())
        try:
            return self._within_bound(gen, interval)
        finally:
            if self.pgconn.transaction_status == pq.TransactionStatus.IDLE:
                self._deadline = None

    def _within_bound(self, gen: PQGen[RV], interval: float) -> RV:
        bound = self.bound or 0.0
        lead = min(1.0, self._left(0.0) / 5)
        try:
            return super().wait(gen, interval, self._left(lead))
        except errors._WaitTimeout:
            pass
        try:
            self.cancel_safe(timeout=lead / 2)
        except psycopg.Error as exc:
            log.warning("database cancel failed", extra={"error": type(exc).__name__})
        try:
            super().wait(gen, interval, self._left(0.0))
        except errors._WaitTimeout:
            self.pgconn.finish()
            raise DatabaseTimeout(
                f"the database did not answer within {bound:g}s; connection dropped"
            ) from None
        raise DatabaseTimeout(f"the database did not finish within {bound:g}s")

    def _left(self, margin: float) -> float:
        """Seconds until `margin` before the deadline; a little, even when it has passed."""
        assert self._deadline is not None
        return max(self._deadline - margin - time.monotonic(), 0.001)

    def commit(self) -> None:
        """Commit; a COMMIT that drew a WARNING is not reported done."""
        self._committing, self._warning = True, None
        try:
            super().commit()
        finally:
            self._committing = False
        if self._warning is not None:
            raise DatabaseTimeout(f"commit not confirmed: {self._warning}")

    def rollback(self) -> None:
        """Roll back within a bound of its own: past the transaction's, it gives the
        connection back clean, or drops it."""
        self._deadline = None
        super().rollback()

    def _on_notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        if self._committing and diagnostic.severity_nonlocalized == "WARNING":
            self._warning = diagnostic.message_primary
