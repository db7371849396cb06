"""Statements of the hot paths on PostgreSQL: compiled once by SQLAlchemy, run by psycopg itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from sqlalchemy import BindParameter, Connection, Dialect, Table, bindparam
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.base import Executable

from shared.database.bounds import read_only

Processor = Callable[[Any], Any] | None
T = TypeVar("T")


class DriverStatement:
    """A Core statement built once, compiled once by SQLAlchemy and run by psycopg, on
    PostgreSQL; elsewhere SQLAlchemy runs it.

    On each execution of a statement it has cached, SQLAlchemy still does about as much work
    as psycopg (the cache key, the parameters built again, the result's metadata): a relay
    woken for each message runs two statements a message and pays that work on each; a sign-up
    runs six (docs/decisions/0005-hot-statements-through-psycopg.md). Here the parameters are
    bound and the rows read with the types' own processors, as SQLAlchemy would; database
    errors are SQLAlchemy's, a lost connection invalidated; listeners of the engine's cursor
    events still hear each statement. An INSERT or UPDATE names the values it binds (the
    columns SQLAlchemy would take from the values given at execution are not known here). A
    statement that expands a list (`IN` a bound list) is SQLAlchemy's to run: its SQL changes
    with the list's length.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # By dialect name: its psycopg form, or None where SQLAlchemy runs it.
        self._forms: dict[str, _Compiled | None] = {}

    def rows(
        self, connection: Connection, values: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run it with `values` on `connection` (in its transaction, if any); the rows it
        returns, by column name."""
        values = values or {}
        compiled = self._form(connection.dialect)
        if compiled is None:
            return [dict(row) for row in connection.execute(self.statement, values).mappings()]
        return compiled.rows(connection, values)

    def run(self, connection: Connection, values: Mapping[str, Any] | None = None) -> int:
        """Run it with `values` on `connection`, reading no rows; how many rows it wrote (or
        returned), as a result's `rowcount` says."""
        values = values or {}
        compiled = self._form(connection.dialect)
        if compiled is None:
            options = {"preserve_rowcount": True}
            return connection.execute(self.statement, values, execution_options=options).rowcount
        return compiled.run(connection, values)

    def _form(self, dialect: Dialect) -> _Compiled | None:
        if dialect.name not in self._forms:
            postgresql = dialect.name == "postgresql"
            self._forms[dialect.name] = _compile(self.statement, dialect) if postgresql else None
        return self._forms[dialect.name]


def bound(table: Table, columns: Iterable[str], prefix: str = "") -> dict[str, BindParameter[Any]]:
    """Each of `table`'s `columns` bound to :prefix+column, typed as its column: the values an
    INSERT or UPDATE run by a DriverStatement names."""
    return {c: bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns}


@dataclass(frozen=True)
class _Compiled:
    """A statement's SQL for one dialect, its constants bound, what binds and reads the rest."""

    sql: str
    constants: dict[str, Any]
    binds: dict[str, Processor]
    names: tuple[str, ...]
    reads: tuple[Processor, ...]

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = self._execute(connection, values, lambda cursor: cursor.fetchall())
        return [
            {
                name: value if read is None else read(value)
                for name, read, value in zip(self.names, self.reads, row, strict=True)
            }
            for row in found
        ]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> int:
        return self._execute(connection, values, lambda cursor: cursor.rowcount)

    def _execute(
        self,
        connection: Connection,
        values: Mapping[str, Any],
        result: Callable[[psycopg.Cursor[Any]], T],
    ) -> T:
        parameters = dict(self.constants)
        for name, bind in self.binds.items():
            parameters[name] = _bound(bind, values[name])
        if not connection.in_transaction():
            # As SQLAlchemy begins one at a statement: its commit then commits this one.
            connection.begin()
        driver = connection.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor:
                for listener in connection.dispatch.before_cursor_execute:
                    listener(connection, cursor, self.sql, parameters, None, False)
                cursor.execute(self.sql, parameters)
                return result(cursor)
        except psycopg.Error as exc:
            raise _translated(connection, exc, self.sql, parameters) from exc


def _compile(statement: Executable, dialect: Dialect) -> _Compiled | None:
    """The statement compiled for `dialect`'s driver; None if it expands a list."""
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    required = {name for name, bind in compiled.binds.items() if bind.required}
    every = compiled.construct_params(dict.fromkeys(required))
    processors = {
        name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in every
    }
    constants = {
        name: _bound(processors[name], value)
        for name, value in every.items()
        if name not in required
    }
    columns = list(getattr(statement, "exported_columns", ()))
    return _Compiled(
        sql=str(compiled),
        constants=constants,
        binds={name: processors[name] for name in required},
        names=tuple(str(column.key) for column in columns),
        reads=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ),
    )


def _bound(process: Processor, value: Any) -> Any:
    return value if process is None else process(value)


def _translated(
    connection: Connection, exc: psycopg.Error, sql: str, parameters: Any
) -> StatementError:
    """The driver's error as SQLAlchemy raises it, the connection invalidated if it is lost (or
    leads to a server refusing writes, as the engine's own errors: shared.database.db)."""
    dbapi_connection = connection.connection.dbapi_connection
    # SQLAlchemy types the driver's errors as a protocol psycopg's do not name.
    lost = connection.dialect.is_disconnect(exc, dbapi_connection, None)  # type: ignore[arg-type]
    lost = lost or read_only(exc)
    if lost:
        connection.invalidate(exc)
    return DBAPIError.instance(
        sql,
        parameters,
        exc,
        psycopg.Error,
        connection_invalidated=lost,
        dialect=connection.dialect,
    )
