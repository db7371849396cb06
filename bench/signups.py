"""The sign-ups of bench/peers.py: a users table, the same in every contestant's database, whose
rows commit beside each contestant's job, and the time each commits.

The commit is noted as bench/latency.py notes it (a constraint trigger deferred to the commit,
into the same `bench_commits` table, so that its commit_times() reads it), here on the users
table, so that it costs every contestant the same.
"""

from __future__ import annotations

import psycopg

SCHEMA = [
    """CREATE TABLE bench_users (
        id bigserial PRIMARY KEY, email text NOT NULL, message_key varchar(36) NOT NULL
    )""",
    "CREATE TABLE bench_commits (public_id varchar(36) PRIMARY KEY, at timestamptz NOT NULL)",
    """CREATE FUNCTION bench_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO bench_commits VALUES (NEW.message_key, clock_timestamp());
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER bench_note_commit AFTER INSERT ON bench_users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_note_commit()""",
]

# Pyformat placeholders: psycopg's own, and SQLAlchemy's exec_driver_sql on psycopg.
INSERT_USER = "INSERT INTO bench_users (email, message_key) VALUES (%(email)s, %(key)s)"


def add_schema(url: str) -> None:
    """Create the users table and its commit-noting trigger in the database at libpq `url`."""
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in SCHEMA:
            connection.execute(statement)
