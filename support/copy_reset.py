"""A used copy of the template database given its template's state back, when a test left it
only rows: cheaper than a new copy and the drop of the old one (about 20 ms of the machine's
CPU against 120 to 140, and no checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

# The per-database catalogs a schema change writes: a row added, changed (a new xmin) or removed
# changes its count or its sum of xmins. pg_statistic too: a copy analyzed by a test (or by
# autovacuum after a bulk insert) would plan the next test's queries from that test's rows.
CATALOGS = (
    "pg_attrdef",
    "pg_attribute",
    "pg_class",
    "pg_constraint",
    "pg_default_acl",
    "pg_depend",
    "pg_enum",
    "pg_event_trigger",
    "pg_extension",
    "pg_index",
    "pg_inherits",
    "pg_largeobject_metadata",
    "pg_policy",
    "pg_proc",
    "pg_publication",
    "pg_rewrite",
    "pg_sequence",
    "pg_statistic",
    "pg_statistic_ext",
    "pg_trigger",
    "pg_type",
)
_CATALOGS_READ = sql.SQL(" UNION ALL ").join(
    sql.SQL("SELECT {name}, count(*), coalesce(sum(xmin::text::bigint), 0) FROM {table}").format(
        name=sql.Literal(catalog), table=sql.Identifier("pg_catalog", catalog)
    )
    for catalog in CATALOGS
)
# What else a test may change that rows do not hold: its namespaces (a session's temporary ones
# aside), a table's pages and tuples as VACUUM records them in place, and the database's own
# settings, limit and grants.
_REST_READ = """
SELECT 'namespaces', count(*), coalesce(sum(xmin::text::bigint), 0) FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
UNION ALL SELECT 'sizes', sum(relpages), sum(reltuples)::bigint FROM pg_class
UNION ALL SELECT 'settings', count(*), 0 FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL SELECT 'database ' || datallowconn || ' ' || coalesce(datacl::text, ''), datconnlimit, 0
    FROM pg_database WHERE datname = current_database()
"""
# Rows past this many, a copy is dropped rather than reset: the pages its deleted rows leave
# until a vacuum would be read by the next test's scans (the tests of pages read count them).
MOST_ROWS = 500

Fingerprint = list[tuple[str, int, int]]


def fingerprint(connection: psycopg.Connection[tuple[object, ...]]) -> Fingerprint:
    """What a copy's catalogs and database settings are, rows aside."""
    read = connection.execute(_CATALOGS_READ).fetchall() + connection.execute(_REST_READ).fetchall()
    return [(str(name), int(str(count)), int(str(total))) for name, count, total in read]


@dataclass(frozen=True)
class Baseline:
    """A fresh copy's state: its fingerprint, the rows its migrations wrote (COPY text by
    table), its sequences' positions, and its tables children first (the order of deletes
    that no foreign key refuses)."""

    fingerprint: Fingerprint
    rows: dict[str, bytes]
    sequences: dict[str, tuple[int, bool]]
    tables: tuple[str, ...]

    @classmethod
    def read(cls, connection: psycopg.Connection[tuple[object, ...]]) -> Baseline:
        """The baseline of the fresh copy `connection` is on."""
        tables = [str(name) for (name,) in connection.execute(_TABLES).fetchall()]
        references = [(str(c), str(p)) for c, p in connection.execute(_REFERENCES).fetchall()]
        rows = {}
        for table in tables:
            with connection.cursor().copy(_copy("COPY {} TO STDOUT", table)) as copy:
                data = b"".join(bytes(block) for block in copy)
            if data:
                rows[table] = data
        sequences = {}
        for (name,) in connection.execute(_SEQUENCES).fetchall():
            query = sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(str(name))
            )
            last, called = connection.execute(query).fetchone() or (1, False)
            sequences[str(name)] = (int(str(last)), bool(called))
        return cls(fingerprint(connection), rows, sequences, _children_first(tables, references))

    def reset(self, connection: psycopg.Connection[tuple[object, ...]]) -> bool:
        """Give the copy `connection` is on this baseline back, in one transaction; False (and
        nothing changed) when its catalogs differ or it holds more than MOST_ROWS rows."""
        if fingerprint(connection) != self.fingerprint:
            return False
        deleted = 0
        # Twice over at most: a delete's trigger (the outbox's counts) may write to a table
        # already emptied.
        for _ in range(3):
            emptied = 0
            for table in self.tables:
                emptied += connection.execute(
                    sql.SQL("DELETE FROM {}").format(sql.Identifier(table))
                ).rowcount
            deleted += emptied
            if not emptied:
                break
        if deleted > MOST_ROWS:
            connection.rollback()
            return False
        for table, data in self.rows.items():
            with connection.cursor().copy(_copy("COPY {} FROM STDIN", table)) as copy:
                copy.write(data)
        for sequence, (last, called) in self.sequences.items():
            connection.execute(
                "SELECT setval(%s::regclass, %s, %s)", (f'"{sequence}"', last, called)
            )
        connection.commit()
        return True


_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
_REFERENCES = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
    WHERE contype = 'f' AND conrelid <> confrelid
"""
_SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"


def _copy(statement: str, table: str) -> sql.Composed:
    return sql.SQL(statement).format(sql.Identifier(table))


def _children_first(tables: list[str], references: list[tuple[str, str]]) -> tuple[str, ...]:
    """`tables`, each after every table whose rows reference its own."""
    referencing = {table: {c for c, p in references if p == table} for table in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and referencing[t] <= set(ordered)]
        if not ready:
            raise ValueError(f"a cycle of foreign keys among {sorted(set(tables) - set(ordered))}")
        ordered.extend(sorted(ready))
    return tuple(ordered)
