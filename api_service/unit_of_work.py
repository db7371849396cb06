"""The transaction boundary of a request: everything inside commits together or not at all."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine


class UnitOfWork:
    """One connection and one transaction; rolled back unless `commit` was called.

    The transaction begins with the first statement, not on entry: a request may open its
    unit before slow work that needs no database, and SQLite (which takes its write lock at
    BEGIN) is then not locked through it.
    """

    connection: Connection

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> Self:
        self.connection = self._engine.connect()
        return self

    def commit(self) -> None:
        """Make every write of this unit durable."""
        self.connection.commit()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self.connection.in_transaction():
                self.connection.rollback()
        finally:
            self.connection.close()
