"""Which refusals of a real PostgreSQL waiting cannot heal: a role or a database it does not
know, on every host tried; a host that is down, alone or beside one that refuses, is waited for."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy import make_url

from shared.settings.database_url import DatabaseRefused, refused_for_good
from support.databases import PG_URL
from support.ports import free_port

SERVER = make_url(PG_URL)
pytestmark = pytest.mark.postgresql_only

HOST, PORT = SERVER.host or "127.0.0.1", SERVER.port or 5432


def refusal(conninfo: str) -> psycopg.OperationalError:
    """What psycopg raises connecting to `conninfo`."""
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(conninfo, connect_timeout=5)
    return refused.value


def test_an_unknown_role_on_every_host_is_for_good() -> None:
    role = f"nobody_{secrets.token_hex(4)}"
    error = refusal(f"host={HOST},{HOST} port={PORT},{PORT} user={role} dbname=postgres")
    refused = refused_for_good("DATABASE_URL", error)
    assert isinstance(refused, DatabaseRefused)
    assert str(refused).startswith("DATABASE_URL: connection to server at ")
    assert str(refused).count(f'FATAL: role "{role}" does not exist') == 2


def test_an_unknown_database_is_for_good() -> None:
    name = f"nodb_{secrets.token_hex(4)}"
    error = refusal(f"host={HOST} port={PORT} user={SERVER.username} dbname={name}")
    assert str(refused_for_good("DATABASE_URL", error)).endswith(
        f'database "{name}" does not exist'
    )


def test_a_host_down_is_waited_for_even_beside_one_that_refuses() -> None:
    down = free_port()
    assert refused_for_good("DATABASE_URL", refusal(f"host={HOST} port={down}")) is None
    role = f"nobody_{secrets.token_hex(4)}"
    both = refusal(f"host={HOST},{HOST} port={PORT},{down} user={role} dbname=postgres")
    assert refused_for_good("DATABASE_URL", both) is None
