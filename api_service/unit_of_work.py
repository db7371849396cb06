"""The transaction boundary of a request: everything inside commits together or not at all."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, RootTransaction


class UnitOfWork:
    """One connection and one transaction; rolled back unless `commit` was called."""

    connection: Connection

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._transaction: RootTransaction | None = None

    def __enter__(self) -> Self:
        self.connection = self._engine.connect()
        self._transaction = self.connection.begin()
        return self

    def commit(self) -> None:
        """Make every write of this unit durable."""
        assert self._transaction is not None
        self._transaction.commit()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self.connection.close()
