"""Reading what the code under test wrote, straight from the database."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Interval, func, inspect, literal, select, text, update

from shared.clock import utcnow
from shared.database.models import metadata


def count(engine: Engine, table: str, **where: Any) -> int:
    """Rows of `table` matching the column values given."""
    t = metadata.tables[table]
    query = select(func.count()).select_from(t)
    for column, value in where.items():
        query = query.where(t.c[column] == value)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def indexes(engine: Engine, table: str) -> set[str]:
    """The names of `table`'s indexes."""
    with engine.connect() as connection:
        return {str(index["name"]) for index in inspect(connection).get_indexes(table)}


def rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    """Every row of `table`, as dicts, in id (or key) order; the columns the schema has (a database
    downgraded by a migration test lacks the newer ones)."""
    t = metadata.tables[table]
    with engine.connect() as connection:
        present = {column["name"] for column in inspect(connection).get_columns(table)}
        columns = [column for column in t.c if column.name in present]
        # A table keyed by something else (provider_pauses: its provider) in that key's order.
        keys = [t.c.id] if "id" in t.c else list(t.primary_key.columns)
        query = select(*columns).order_by(*keys)
        return [dict(r._mapping) for r in connection.execute(query)]


def on_common_columns(
    left: list[dict[str, Any]], right: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both lists of rows cut to the columns both have: what one revision has and the other not
    is left out of a migration's comparison of what it kept."""
    columns = set(left[0] if left else ()) & set(right[0] if right else ())

    def cut(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k in columns} for row in rows]

    return cut(left), cut(right)


def statuses(engine: Engine) -> Counter[str]:
    """How many outbox rows are in each status."""
    return Counter(str(r["status"]) for r in rows(engine, "outbox"))


def outcomes(engine: Engine) -> Counter[str]:
    """How many delivery attempts ended in each outcome."""
    return Counter(str(r["outcome"]) for r in rows(engine, "outbox_attempts"))


def untried(engine: Engine, count: int) -> None:
    """Assert that all `count` rows wait: none sent, none dead, no try counted."""
    assert statuses(engine) == {"pending": count}
    assert {r["attempts"] for r in rows(engine, "outbox")} == {0}


def every_value_as_text(engine: Engine) -> list[str]:
    """Every value of every column of every table, as text, for searching secrets."""
    values: list[str] = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                values.extend(str(value) for value in row if value is not None)
    return values


def written(engine: Engine) -> dict[str, int]:
    """How many rows each domain table holds."""
    return {name: count(engine, name) for name in ("users", "verification_tokens", "outbox")}


def let_time_pass(engine: Engine, seconds: int) -> None:
    """Age every throttle event by `seconds`, as waiting that long would, in one statement."""
    events = metadata.tables["throttle_events"]
    at = events.c.at
    if engine.dialect.name == "sqlite":
        # SQLite holds the time as text, 'YYYY-MM-DD HH:MM:SS.ffffff': the date and the whole
        # seconds move back, the fraction after them stays.
        moved = func.strftime("%Y-%m-%d %H:%M:%S", at, f"-{seconds} seconds")
        aged = moved.concat(func.substr(at, 20))
    else:
        aged = at - literal(timedelta(seconds=seconds), Interval())
    with engine.begin() as connection:
        connection.execute(update(events).values(at=aged))


def forget_throttles(engine: Engine) -> None:
    """Let every throttle window pass, as a day of waiting would."""
    let_time_pass(engine, 86400)


def wait_out_deferrals(engine: Engine) -> None:
    """Make every pending row due now, as waiting out its retry (a greylister's minute) would."""
    outbox = metadata.tables["outbox"]
    with engine.begin() as connection:
        connection.execute(
            update(outbox).where(outbox.c.status == "pending").values(next_attempt_at=utcnow())
        )
