"""The transaction boundary of a request: everything inside commits together or not at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Concatenate, ParamSpec, Self, TypeVar

from sqlalchemy import Connection, Engine

from shared.database.connection_events import bound_from

P = ParamSpec("P")
T = TypeVar("T")


class UnitOfWork:
    """One connection and one transaction; rolled back unless `commit` was called.

    The connection is taken from the pool when first used and the transaction begins with
    the first statement, not on entry: a request may open its unit before slow work that
    needs no database (a hash, a check in a unit of its own), and neither holds a pooled
    connection meanwhile nor, on SQLite (which takes its write lock at BEGIN), the lock.
    Its transaction is bounded by DATABASE_TIMEOUT from the moment it asks the pool, so a
    request waits for a connection and its transaction no longer than that together.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> Self:
        return self

    @property
    def connection(self) -> Connection:
        """This unit's connection, taken from the pool on first use."""
        if self._connection is None:
            started = time.monotonic()
            self._connection = self._engine.connect()
            bound_from(self._connection, started)
        return self._connection

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit's writes are durable, never if they are rolled back."""
        self._after_commit.append(callback)

    def commit(self) -> None:
        """Make every write of this unit durable."""
        self.connection.commit()
        for callback in self._after_commit:
            callback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._connection is None:
            return
        try:
            if self._connection.in_transaction():
                self._connection.rollback()
        finally:
            self._connection.close()


def act(
    unit: Callable[[], UnitOfWork],
    action: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run an operator action (shared.operations) in a unit of its own, committed with its
    audit row: the admin API and the dashboard name the action and present what it returns."""
    with unit() as uow:
        result = action(uow.connection, *args, **kwargs)
        uow.commit()
    return result


def read(
    unit: Callable[[], UnitOfWork],
    query: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """What an operator read (shared.operations) returns, from a unit that writes nothing."""
    with unit() as uow:
        return query(uow.connection, *args, **kwargs)
