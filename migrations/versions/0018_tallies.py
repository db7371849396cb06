"""Tallies of the outbox that the figures operators read add up instead of counting the table.

`outbox_counts` holds messages by (status, channel, resolved); `suppression_counts` the
suppressed addresses; `attempt_hours` attempts by (hour, outcome), and `retried`: the failed
attempts of messages since sent, which the chart leaves out; `minute_counts` the last hour's
messages sent (`sent`, by `sent_at`) and attempts that did not deliver (by outcome), a minute
at a time. Triggers on `outbox`, `outbox_attempts` and `suppressions` append a row of signed
counts for every change (a statement's rows in one, for inserts and deletes on PostgreSQL):
writers only insert, so no row is hot and no writer waits for another's. Readers sum;
shared/operations/tallies.py folds the rows into one a key now and then. A failed attempt's
`retried` follows its message into and out of `sent`, and out of the table: the delete trigger
reads the attempts before the cascade removes them (of messages sent within the hours kept:
older ones have none in them, and retention deletes none younger than a day).

The tables are seeded from the rows present, writes held meanwhile (a few seconds at 10M
rows). `outbox_attempts_failed` indexes the attempts that did not deliver, which the last
hour's figures read (their outcome and message in the index, PostgreSQL reads no row);
`outbox_cancelled` the cancelled messages by age, which retention deletes a batch at a time;
`suppressions_event` the suppressions by provider event, which deleting an event looks up
(without it, retention scanned the suppressions for every receipt it deleted).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
FAILED = "('transient', 'permanent')"
# The truncation of a time to its hour and minute. SQLite: the text SQLAlchemy writes for a
# naive UTC datetime, so that they compare as text.
TRUNCATE = {
    "postgresql": ("date_trunc('hour', {0}, 'UTC')", "date_trunc('minute', {0}, 'UTC')"),
    "sqlite": (
        "strftime('%Y-%m-%d %H:00:00.000000', {0})",
        "strftime('%Y-%m-%d %H:%M:00.000000', {0})",
    ),
}
# A time this long before now. Deleting what is older changes no hour or minute the tallies
# keep (shared.operations.tallies: 25 hours, 61 minutes), so a delete (retention's, of rows a
# day old at least) appends none: a message sent earlier had its failed attempts before.
SINCE = {
    "postgresql": "now() - interval '{0}'",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-{0}')",
}
COUNT = "INSERT INTO outbox_counts (status, channel, resolved, n)"
HOURS = "INSERT INTO attempt_hours (hour, outcome, n)"
MINUTES = "INSERT INTO minute_counts (minute, kind, n)"
LISTED = "INSERT INTO suppression_counts (n)"
# The columns each table's triggers read, to name a row of a row trigger as a one-row table.
COLUMNS = {
    "outbox": ("id", "status", "channel", "resolution", "sent_at"),
    "outbox_attempts": ("outbox_id", "attempted_at", "outcome"),
    "suppressions": ("id",),
}


def _rules(hour: str, minute: str, since: str) -> dict[str, tuple[str, str, str, list[str]]]:
    """Each trigger: its event, the rows it reads as `batch` (NEW or OLD: the statement's on
    PostgreSQL, else the row's; '': a row trigger reading OLD and NEW), when it fires, and its
    statements."""
    at = hour.format("attempted_at")

    def retried(message: str, sign: str, when: str = "true") -> str:
        return (
            f"{HOURS} SELECT {at}, 'retried', {sign}count(*) FROM outbox_attempts "
            f"WHERE outbox_id = {message}.id AND outcome IN {FAILED} AND {when} GROUP BY 1"
        )

    def kept(column: str, sign: str, window: str) -> str:
        return f"{column} > {since.format(window)}" if sign == "-" else "true"

    def attempts(sign: str, rows: str = "batch") -> list[str]:
        return [
            f"{HOURS} SELECT {at}, outcome, {sign}count(*) FROM {rows} "
            f"WHERE {kept('attempted_at', sign, '26 hours')} GROUP BY 1, 2",
            f"{MINUTES} SELECT {minute.format('attempted_at')}, outcome, {sign}count(*) "
            f"FROM {rows} WHERE outcome <> 'sent' AND {kept('attempted_at', sign, '2 hours')} "
            "GROUP BY 1, 2",
        ]

    def messages(sign: str) -> list[str]:
        return [
            f"{COUNT} SELECT status, channel, resolution IS NOT NULL, {sign}count(*) "
            "FROM batch GROUP BY 1, 2, 3",
            f"{MINUTES} SELECT {minute.format('sent_at')}, 'sent', {sign}count(*) FROM batch "
            f"WHERE status = 'sent' AND {kept('sent_at', sign, '2 hours')} "
            "AND sent_at IS NOT NULL GROUP BY 1",
        ]

    def listed(sign: str) -> list[str]:
        return [f"{LISTED} SELECT {sign}count(*) FROM batch HAVING count(*) > 0"]

    left = "OLD.status = 'sent' AND NEW.status <> 'sent'"
    entered = "NEW.status = 'sent' AND OLD.status <> 'sent'"
    sent = "EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent')"
    return {
        "outbox_counts_added": ("INSERT ON outbox", "NEW", "", messages("")),
        "outbox_counts_removed": ("DELETE ON outbox", "OLD", "", messages("-")),
        "outbox_counts_changed": (
            "UPDATE OF status, channel, resolution ON outbox",
            "",
            "OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
            "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)",
            [
                f"{COUNT} VALUES (OLD.status, OLD.channel, OLD.resolution IS NOT NULL, -1), "
                "(NEW.status, NEW.channel, NEW.resolution IS NOT NULL, 1)",
                retried("NEW", "-", left),
                retried("NEW", "", entered),
                f"{MINUTES} SELECT {minute.format('OLD.sent_at')}, 'sent', -1 "
                f"WHERE {left} AND OLD.sent_at IS NOT NULL",
                f"{MINUTES} SELECT {minute.format('NEW.sent_at')}, 'sent', 1 "
                f"WHERE {entered} AND NEW.sent_at IS NOT NULL",
            ],
        ),
        "outbox_retried_removed": ("DELETE ON outbox", "", "RECENT", [retried("OLD", "-")]),
        "attempt_hours_added": (
            "INSERT ON outbox_attempts",
            "NEW",
            "",
            [
                *attempts(""),
                f"{HOURS} SELECT {hour.format('batch.attempted_at')}, 'retried', count(*) "
                "FROM batch JOIN outbox ON outbox.id = batch.outbox_id "
                f"WHERE batch.outcome IN {FAILED} AND outbox.status = 'sent' GROUP BY 1",
            ],
        ),
        "attempt_hours_removed": ("DELETE ON outbox_attempts", "OLD", "", attempts("-")),
        # A provider's failure counted as the message's afterwards (outbox_relay/store.recount).
        "attempt_hours_changed": (
            "UPDATE OF outcome, attempted_at ON outbox_attempts",
            "",
            "OLD.outcome <> NEW.outcome OR OLD.attempted_at <> NEW.attempted_at",
            [
                *attempts("-", "OLD_ROW"),
                *attempts("", "NEW_ROW"),
                f"{HOURS} SELECT {hour.format('OLD.attempted_at')}, 'retried', -1 "
                f"WHERE OLD.outcome IN {FAILED} AND {sent}",
                f"{HOURS} SELECT {hour.format('NEW.attempted_at')}, 'retried', 1 "
                f"WHERE NEW.outcome IN {FAILED} AND {sent}",
            ],
        ),
        "suppression_counts_added": ("INSERT ON suppressions", "NEW", "", listed("")),
        "suppression_counts_removed": ("DELETE ON suppressions", "OLD", "", listed("-")),
    }


def _triggers(dialect: str) -> list[str]:
    """The statements creating the triggers: on PostgreSQL, a statement's rows at once (its
    transition table) for inserts and deletes; on SQLite, a row at a time."""
    made = []
    since = SINCE[dialect]
    for name, (event, batch, when, body) in _rules(*TRUNCATE[dialect], since).items():
        table = event.rpartition(" ON ")[2]
        timing = "BEFORE" if when == "RECENT" else "AFTER"
        recent = f"OLD.status = 'sent' AND OLD.sent_at > {since.format('25 hours')}"
        when = recent if when == "RECENT" else when
        rows = {f"{row}_ROW": _one(row, table) for row in ("OLD", "NEW")}
        if dialect == "sqlite" or not batch:
            rows["batch"] = _one(batch or "NEW", table)
            each = "ROW"
        else:
            rows["batch"] = "added" if batch == "NEW" else "removed"
            event += f" REFERENCING {batch} TABLE AS {rows['batch']}"
            each = "STATEMENT"
        for old, new in rows.items():
            body = [s.replace(f"FROM {old}", f"FROM {new} AS batch") for s in body]
        condition = f" WHEN ({when})" if when else ""
        if dialect == "sqlite":
            made.append(
                f"CREATE TRIGGER {name} {timing} {event} FOR EACH ROW{condition} BEGIN "
                + "; ".join(body)
                + "; END"
            )
            continue
        returns = "OLD" if timing == "BEFORE" else "NULL"
        made.append(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + "; ".join(body)
            + f"; RETURN {returns}; END $$"
        )
        made.append(
            f"CREATE TRIGGER {name} {timing} {event} FOR EACH {each}{condition} "
            f"EXECUTE FUNCTION {name}()"
        )
    return made


def _one(row: str, table: str) -> str:
    """Row `row` of a row trigger as a one-row table."""
    return "(SELECT " + ", ".join(f"{row}.{c} AS {c}" for c in COLUMNS[table]) + ")"


def _seed(dialect: str) -> list[str]:
    hour, minute = TRUNCATE[dialect]
    at = hour.format("attempted_at")
    return [
        f"{LISTED} SELECT count(*) FROM suppressions",
        f"{COUNT} SELECT status, channel, resolution IS NOT NULL, count(*) FROM outbox "
        "GROUP BY 1, 2, 3",
        f"{HOURS} SELECT {at}, outcome, count(*) FROM outbox_attempts GROUP BY 1, 2",
        f"{HOURS} SELECT {hour.format('a.attempted_at')}, 'retried', count(*) "
        "FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
        f"WHERE a.outcome IN {FAILED} AND o.status = 'sent' GROUP BY 1",
        f"{MINUTES} SELECT {minute.format('attempted_at')}, outcome, count(*) "
        "FROM outbox_attempts WHERE outcome <> 'sent' GROUP BY 1, 2",
        f"{MINUTES} SELECT {minute.format('sent_at')}, 'sent', count(*) FROM outbox "
        "WHERE status = 'sent' AND sent_at IS NOT NULL GROUP BY 1",
    ]


def _indexes() -> None:
    op.create_index(
        "outbox_attempts_failed",
        "outbox_attempts",
        ["attempted_at"],
        postgresql_include=["outcome", "outbox_id"],
        postgresql_where=sa.text("outcome <> 'sent'"),
        sqlite_where=sa.text("outcome <> 'sent'"),
    )
    op.create_index(
        "outbox_cancelled",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'cancelled'"),
        sqlite_where=sa.text("status = 'cancelled'"),
    )
    op.create_index("suppressions_event", "suppressions", ["event_id"])
    # The figures read the hours and minutes they show, whatever rows a fold left dead.
    op.create_index("attempt_hours_hour", "attempt_hours", ["hour"])
    op.create_index("minute_counts_minute", "minute_counts", ["minute"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    keys = {
        "outbox_counts": [
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("channel", sa.String(10), nullable=False),
            sa.Column("resolved", sa.Boolean, nullable=False),
        ],
        "attempt_hours": [
            sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
            sa.Column("outcome", sa.String(20), nullable=False),
        ],
        "minute_counts": [
            sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
            sa.Column("kind", sa.String(20), nullable=False),
        ],
        "suppression_counts": [],
    }
    for table, columns in keys.items():
        op.create_table(
            table,
            sa.Column("id", identity, primary_key=True),
            *columns,
            sa.Column("n", sa.BigInteger, nullable=False),
        )
    _indexes()
    if dialect == "postgresql":
        op.execute("LOCK TABLE outbox, outbox_attempts, suppressions IN SHARE MODE")
    for statement in [*_seed(dialect), *_triggers(dialect)]:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (event, _, _, _) in _rules("{0}", "{0}", "{0}").items():
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON {event.rpartition(' ON ')[2]}")
            op.execute(f"DROP FUNCTION {name}()")
        else:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("minute_counts_minute", "minute_counts")
    op.drop_index("attempt_hours_hour", "attempt_hours")
    op.drop_index("suppressions_event", "suppressions")
    op.drop_index("outbox_cancelled", "outbox")
    op.drop_index("outbox_attempts_failed", "outbox_attempts")
    for table in ("suppression_counts", "minute_counts", "attempt_hours", "outbox_counts"):
        op.drop_table(table)
