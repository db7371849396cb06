"""What every bench needs: a throwaway PostgreSQL database at head, and the machine's name."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select

from shared.db import migrate
from shared.models import outbox
from tests.databases import create_database, drop_database, url_of


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new database migrated to head, dropped afterwards."""
    name = create_database(prefix)
    try:
        url = url_of(name)
        migrate(url)
        yield url
    finally:
        drop_database(name)


def machine() -> str:
    """One line naming the machine and the interpreter the figures come from."""
    return (
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def sent(engine: Engine) -> int:
    """Outbox rows marked sent so far."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "sent")
            ).scalar_one()
        )
