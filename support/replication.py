"""A private PostgreSQL 15 primary with a synchronous streaming standby, on free ports: for tests
that kill the primary and promote the standby, as a failover (Patroni, a managed service) does."""

from __future__ import annotations

import time
import uuid
from types import TracebackType

import psycopg

from support.private_postgres import PrivatePostgres

# A commit returns once the standby has it on disk: what the primary acknowledged survives it.
SYNCHRONOUS = {"synchronous_commit": "on", "synchronous_standby_names": "'*'"}


class PostgresPair:
    """`primary` takes the writes, `standby` replays them synchronously, ready to be promoted.

    After a failover (`primary.kill()`, `standby.promote()`), `heal` makes a pair again: the
    promoted server is the primary, and a new standby follows it.
    """

    def __init__(self) -> None:
        self.primary = PrivatePostgres(SYNCHRONOUS)
        self.standby = PrivatePostgres()

    def url(self, database: str) -> str:
        """libpq's URL of `database` on both, read-write: it reaches whichever is the primary."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
            f"/{database}?target_session_attrs=read-write"
        )

    def create_database(self) -> str:
        """A new database with a random name on the primary (and so on the standby); its name."""
        name = f"outpost_pair_{uuid.uuid4().hex[:10]}"
        with _connect(self.primary) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def heal(self) -> None:
        """A pair again after a test: a stopped standby started, or after a failover, the
        promoted standby leading and a new standby following it."""
        if not self.primary.running:
            if _in_recovery(self.standby):
                self.standby.promote()
            old, self.primary, self.standby = self.primary, self.standby, PrivatePostgres()
            old.cleanup()
            with _connect(self.primary) as connection:
                for name, value in SYNCHRONOUS.items():
                    connection.execute(f"ALTER SYSTEM SET {name} = {value}")
                connection.execute("SELECT pg_reload_conf()")
            self.standby.follow(self.primary)
        if not self.standby.running:
            self.standby.start()
        self._wait_synchronous()

    def _wait_synchronous(self) -> None:
        """Until the primary has a synchronous standby streaming from it."""
        deadline = time.monotonic() + 30
        with _connect(self.primary) as connection:
            while (
                connection.execute(
                    "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'"
                ).fetchone()
                is None
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the standby never became synchronous\n{self.log_text()}")
                time.sleep(0.05)

    def log_text(self) -> str:
        """Both servers' logs, for failure messages."""
        return (
            f"--- primary log ---\n{self.primary.log_text()}\n"
            f"--- standby log ---\n{self.standby.log_text()}"
        )

    def cleanup(self) -> None:
        """Stop both and remove their directories; never raises."""
        self.standby.cleanup()
        self.primary.cleanup()

    def __enter__(self) -> PostgresPair:
        try:
            self.primary.init()
            self.primary.start()
            self.standby.follow(self.primary)
            self.standby.start()
            self._wait_synchronous()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


def _connect(server: PrivatePostgres) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to `server`'s `postgres` database."""
    return psycopg.connect(server.url, autocommit=True, connect_timeout=5)


def _in_recovery(server: PrivatePostgres) -> bool:
    """Whether `server` replays a primary's WAL (a standby), rather than taking writes."""
    with _connect(server) as connection:
        row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])
