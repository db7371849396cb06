"""The database variables: where the rows are, who migrates them, the pooler, LISTEN and the
time bound of a transaction."""

from __future__ import annotations

from collections.abc import Callable

from shared.settings import config_values as values
from shared.settings.database_url import normalise_database_url
from shared.settings.variable import Environ, Group, InContext, Variable

DATABASE = Group(
    "Database",
    "PostgreSQL in production (several API hosts and relays on one database), SQLite as the "
    "embedded default (one host, one relay, polling).",
)
DEFAULT_DATABASE_URL = "sqlite:///var/outpost.db"
# Seconds one transaction of a request or of a relay poll may take against the database.
DEFAULT_DATABASE_TIMEOUT = 5.0


def _database_url(environ: Environ) -> str:
    """DATABASE_URL's text, what its companions default to."""
    return DATABASE_URL.raw(environ)


DATABASE_URL = Variable(
    name="DATABASE_URL",
    group=DATABASE,
    meaning=(
        "The database, as a SQLAlchemy URL; `postgres://` and `postgresql://` map to psycopg 3. "
        "A primary with standbys is named the libpq way, "
        "`postgresql://user@/db?host=h1,h2&port=p1,p2&target_session_attrs=read-write` "
        "(libpq's `…@h1:p1,h2:p2/db` works too), and every process, the relay's `LISTEN` "
        "included, reaches whichever is the primary "
        "([failover](scaling.md#a-primary-with-standbys-failover)). The API and the relay need "
        "only to read and write rows: in production it names a role without DDL rights, and "
        "`outpost migrate` runs as `MIGRATE_DATABASE_URL` "
        "([the database and its roles](install.md#2-the-database-and-its-roles))."
    ),
    parse=normalise_database_url,
    default=DEFAULT_DATABASE_URL,
    shown=(
        f"`{DEFAULT_DATABASE_URL}` for `outpost up` and the operator commands run beside it; "
        "`outpost serve`, `outpost migrate` and `outbox-relay run` stop at start with one line "
        "naming it: production never falls back to a file in its working directory"
    ),
    checks=(
        "`postgresql://`, `postgres://`, `postgresql+psycopg://` or `sqlite:///`; a form that "
        "cannot work stops the process at start with one line"
    ),
)
MIGRATE_DATABASE_URL = Variable(
    name="MIGRATE_DATABASE_URL",
    group=DATABASE,
    meaning=(
        "The schema owner's URL, which `outpost migrate` alone uses, so that `DATABASE_URL` can "
        "name a role with row rights only."
    ),
    parse=normalise_database_url,
    default=_database_url,
    shown="`DATABASE_URL`",
    checks="as `DATABASE_URL`",
)
DATABASE_TIMEOUT = Variable(
    name="DATABASE_TIMEOUT",
    group=DATABASE,
    meaning=(
        "Seconds one transaction of a request or of a relay poll may take against the "
        "database, commit included (a lock, a hung server, a synchronous standby that is gone); "
        "past it the API answers `503` with `Retry-After` and the relay treats the database as "
        "away ([delivery](delivery.md)). Operator commands and purges get 300 s, migrations an "
        "hour."
    ),
    parse=values.database_timeout,
    default=f"{DEFAULT_DATABASE_TIMEOUT:g}",
    checks=(
        f"more than 0 and at most {values.MAX_DATABASE_TIMEOUT:g} s: a request must end within "
        "gunicorn's 30 s worker timeout"
    ),
)
DATABASE_POOLER = Variable(
    name="DATABASE_POOLER",
    group=DATABASE,
    meaning=(
        "`transaction` when `DATABASE_URL` goes through a transaction pooler (PgBouncer in "
        "transaction mode): no session state is kept there, no server-side prepared "
        "statements, no session `SET`, no `LISTEN` ([PgBouncer](pgbouncer.md))."
    ),
    parse=values.pooler,
    checks="`transaction`, or unset",
)


def _listen_url(environ: Environ) -> Callable[[str], str | None]:
    """RELAY_LISTEN_URL, which a transaction pooler makes required: it cannot carry LISTEN."""
    pooled = DATABASE_POOLER.raw(environ) == "transaction"

    def parse(value: str) -> str | None:
        if pooled and not RELAY_LISTEN_URL.given(environ):
            raise ValueError(
                "required with DATABASE_POOLER=transaction: a direct PostgreSQL URL to LISTEN "
                "on (a pooler cannot carry LISTEN), or none to poll"
            )
        return values.listen_url(value)

    return parse


RELAY_LISTEN_URL = Variable(
    name="RELAY_LISTEN_URL",
    group=DATABASE,
    meaning=(
        "The connection the relay `LISTEN`s on, woken within milliseconds of a commit; `none` "
        "polls only, every `RELAY_POLL_INTERVAL` ([PgBouncer](pgbouncer.md))."
    ),
    parse=InContext(_listen_url),
    default=_database_url,
    shown="`DATABASE_URL`",
    checks=(
        "a PostgreSQL URL, or `none`; required with `DATABASE_POOLER=transaction` (a pooler "
        "cannot carry `LISTEN`)"
    ),
)
