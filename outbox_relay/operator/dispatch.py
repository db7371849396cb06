"""Running one operator command: its checks, its transaction, its audit actor, its exit code."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.operator.context import PROG, CliDependencies, Command, Context, UsageError
from outbox_relay.terminal import escaped
from shared.clock import utcnow
from shared.database.bounds import OPERATOR_TIMEOUT
from shared.database.db import engine_for, schema_is_current
from shared.settings.config import Settings


def missing_database(url: str) -> str | None:
    """The path of a SQLite database that does not exist, which opening it would create."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    return None if path.exists() else str(path)


def dispatch(
    args: argparse.Namespace,
    settings: Settings,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the parsed operator command in one transaction (`purge` commits its own), its exit code.

    Each command calls one operation (which records itself in the audit table as
    `cli:<OS user>`, or the `--actor` given) and prints a readable table, or JSON with `--json`.
    Exit codes: 0 done; 1 something named was not there or could not be acted on (an unknown id
    for `dead show` and `dead retry`, an id that is no dead letter for `dead discard`, a user
    that is no pending account, or whose address is suppressed, for `stranded --reissue`) or
    the database failed; 2 bad usage or configuration. `dead retry` exits 0 when every id named
    was found, whatever each one's outcome (printed per row).
    """
    # Every line an operator command prints goes through one escaper: rows may hold terminal
    # controls (ESC, bidi overrides) written before the API refused them.
    out = escaped(out or sys.stdout)
    err = escaped(err or sys.stderr)
    handler: Command = args.handler
    check: Callable[[argparse.Namespace], None] | None = getattr(args, "check", None)
    try:
        if check is not None:
            check(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 2
    missing = missing_database(settings.database_url)
    if missing is not None:
        print(
            f"{PROG}: no database at {missing}; run beside `outpost up` (its directory) or set "
            "DATABASE_URL (e.g. sqlite:////path/to/var/outpost.db)",
            file=err,
        )
        return 1
    engine = engine_for(settings, timeout=OPERATOR_TIMEOUT)
    context = Context(
        args=args,
        deps=CliDependencies.of(settings),
        actor=getattr(args, "actor", None) or default_actor(),
        now=utcnow(),
        out=out,
        err=err,
    )
    # Checking the schema's revision makes alembic log at INFO; an operator needs none of that.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if not schema_is_current(engine):
            print(f"{PROG}: the database schema is not current; run `outpost migrate`", file=err)
            return 1
        with engine.connect() if getattr(args, "commits", False) else engine.begin() as connection:
            return handler(connection, context)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        print(f"{PROG}: database error: {detail[0] if detail else type(exc).__name__}", file=err)
        return 1
    finally:
        engine.dispose()


def default_actor() -> str:
    """`cli:<OS user>`, or `cli:unknown` when the OS cannot say."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = "unknown"
    return f"cli:{user or 'unknown'}"
