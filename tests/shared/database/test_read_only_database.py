"""A server refusing writes (SQLSTATE 25006: a standby, a demoted leader) is, for the
connection that met it, a database away: the error reads as a lost connection, whether
SQLAlchemy or psycopg itself ran the statement (shared.database.driver), so every caller answers as
for a database away, and the next connection goes to whichever server is the primary now."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from shared.database.db import create_engine_for
from shared.database.driver import DriverStatement
from shared.database.models import outbox
from support.databases import refusing_writes

pytestmark = pytest.mark.postgresql_only

_TOUCH = update(outbox).values(attempts=outbox.c.attempts)


@pytest.mark.parametrize("runner", ["sqlalchemy", "psycopg"])
def test_a_write_refused_as_read_only_invalidates_its_connection(
    engine: Engine, runner: str
) -> None:
    name = make_url(str(engine.url)).database
    assert name is not None
    fresh = create_engine_for(str(engine.url))
    try:
        with refusing_writes(name), fresh.connect() as connection:
            with pytest.raises(DBAPIError) as refused:
                if runner == "sqlalchemy":
                    connection.execute(_TOUCH)
                else:
                    DriverStatement(_TOUCH).rows(connection)
            assert refused.value.connection_invalidated
            assert "read-only transaction" in str(refused.value.orig)
    finally:
        fresh.dispose()
