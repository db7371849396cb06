"""Tallies of the outbox that the figures operators read add up instead of counting the table.

`outbox_counts` holds messages by (status, channel, resolved), `suppression_counts` the
suppressed addresses, `attempt_hours` attempts by (hour, outcome), and `retried`: the failed
attempts of messages since sent, which the chart leaves out. Triggers on `outbox`,
`outbox_attempts` and `suppressions` append a row of signed counts for every change (a
statement's rows in one on PostgreSQL, for inserts and deletes): writers only insert, so no
row is hot and no writer waits for another's. Readers sum; shared/operations/tallies.py folds
the rows into one a key now and then. A failed attempt's `retried` follows its message into
and out of `sent`, and out of the table: the delete trigger reads the attempts before the
cascade removes them (of messages sent within the hours kept: older ones have none in them).

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
PG_HOUR = "date_trunc('hour', {0}, 'UTC')"
# SQLite: the text SQLAlchemy writes for a naive UTC datetime, so that hours compare as text.
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00.000000', {0})"

# A message sent longer ago than the hours the tallies keep (shared.operations.tallies.KEPT_HOURS)
# had its failed attempts before: deleting it changes no hour kept, and retention, which
# deletes messages sent a day ago or more, calls no trigger a row.
KEPT = "25 hours"
COUNT = "INSERT INTO outbox_counts (status, channel, resolved, n)"
HOURS = "INSERT INTO attempt_hours (hour, outcome, n)"
LISTED = "INSERT INTO suppression_counts (n)"


def _retried(hour: str, row: str, sign: str) -> str:
    """The failed attempts of message `row`, by hour, counted `sign` as `retried`."""
    return (
        f"{HOURS} SELECT {hour.format('attempted_at')}, 'retried', {sign}count(*) "
        f"FROM outbox_attempts WHERE outbox_id = {row}.id AND outcome IN {FAILED} GROUP BY 1"
    )


def _postgresql() -> list[str]:
    hour = PG_HOUR
    changed = (
        "OLD.status IS DISTINCT FROM NEW.status OR OLD.channel IS DISTINCT FROM NEW.channel "
        "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)"
    )
    functions = {
        "outbox_counts_added": f"{COUNT} SELECT status, channel, resolution IS NOT NULL, "
        "count(*) FROM added GROUP BY 1, 2, 3;",
        "outbox_counts_removed": f"{COUNT} SELECT status, channel, resolution IS NOT NULL, "
        "-count(*) FROM removed GROUP BY 1, 2, 3;",
        "outbox_counts_changed": f"{COUNT} VALUES "
        "(OLD.status, OLD.channel, OLD.resolution IS NOT NULL, -1), "
        "(NEW.status, NEW.channel, NEW.resolution IS NOT NULL, 1); "
        "IF OLD.status = 'sent' AND NEW.status <> 'sent' THEN "
        f"{_retried(hour, 'NEW', '-')}; END IF; "
        "IF NEW.status = 'sent' AND OLD.status <> 'sent' THEN "
        f"{_retried(hour, 'NEW', '')}; END IF;",
        "outbox_retried_removed": f"{_retried(hour, 'OLD', '-')}; RETURN OLD;",
        "attempt_hours_added": f"{HOURS} SELECT {hour.format('attempted_at')}, outcome, "
        "count(*) FROM added GROUP BY 1, 2 "
        f"UNION ALL SELECT {hour.format('a.attempted_at')}, 'retried', count(*) "
        "FROM added a JOIN outbox o ON o.id = a.outbox_id "
        f"WHERE a.outcome IN {FAILED} AND o.status = 'sent' GROUP BY 1;",
        "attempt_hours_removed": f"{HOURS} SELECT {hour.format('attempted_at')}, outcome, "
        "-count(*) FROM removed GROUP BY 1, 2;",
        "suppression_counts_added": f"{LISTED} SELECT count(*) FROM added HAVING count(*) > 0;",
        "suppression_counts_removed": f"{LISTED} SELECT -count(*) FROM removed "
        "HAVING count(*) > 0;",
    }
    created = [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
        + ("" if body.endswith("RETURN OLD;") else "RETURN NULL; ")
        + "END $$"
        for name, body in functions.items()
    ]
    triggers = {
        "suppression_counts_added": "AFTER INSERT ON suppressions REFERENCING NEW TABLE AS "
        "added FOR EACH STATEMENT",
        "suppression_counts_removed": "AFTER DELETE ON suppressions REFERENCING OLD TABLE AS "
        "removed FOR EACH STATEMENT",
        "outbox_counts_added": "AFTER INSERT ON outbox REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT",
        "outbox_counts_removed": "AFTER DELETE ON outbox REFERENCING OLD TABLE AS removed "
        "FOR EACH STATEMENT",
        "outbox_counts_changed": "AFTER UPDATE OF status, channel, resolution ON outbox "
        f"FOR EACH ROW WHEN ({changed})",
        "outbox_retried_removed": "BEFORE DELETE ON outbox FOR EACH ROW "
        f"WHEN (OLD.status = 'sent' AND OLD.sent_at > now() - interval '{KEPT}')",
        "attempt_hours_added": "AFTER INSERT ON outbox_attempts REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT",
        "attempt_hours_removed": "AFTER DELETE ON outbox_attempts REFERENCING OLD TABLE AS "
        "removed FOR EACH STATEMENT",
    }
    return created + [
        f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {name}()" for name, when in triggers.items()
    ]


def _sqlite() -> list[str]:
    hour = SQLITE_HOUR

    def counted(row: str, sign: str) -> str:
        return (
            f"{COUNT} VALUES ({row}.status, {row}.channel, {row}.resolution IS NOT NULL, {sign}1);"
        )

    changed = (
        "OLD.status IS NOT NEW.status OR OLD.channel IS NOT NEW.channel "
        "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)"
    )
    triggers = {
        "suppression_counts_added": ("AFTER INSERT ON suppressions", f"{LISTED} VALUES (1);"),
        "suppression_counts_removed": ("AFTER DELETE ON suppressions", f"{LISTED} VALUES (-1);"),
        "outbox_counts_added": ("AFTER INSERT ON outbox", counted("NEW", "")),
        "outbox_counts_removed": ("AFTER DELETE ON outbox", counted("OLD", "-")),
        "outbox_counts_changed": (
            f"AFTER UPDATE OF status, channel, resolution ON outbox WHEN {changed}",
            counted("OLD", "-") + counted("NEW", ""),
        ),
        "outbox_retried_left": (
            "AFTER UPDATE OF status ON outbox WHEN OLD.status = 'sent' AND NEW.status <> 'sent'",
            _retried(hour, "NEW", "-") + ";",
        ),
        "outbox_retried_entered": (
            "AFTER UPDATE OF status ON outbox WHEN NEW.status = 'sent' AND OLD.status <> 'sent'",
            _retried(hour, "NEW", "") + ";",
        ),
        "outbox_retried_removed": (
            "BEFORE DELETE ON outbox WHEN OLD.status = 'sent' AND OLD.sent_at > "
            f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-{KEPT}')",
            _retried(hour, "OLD", "-") + ";",
        ),
        "attempt_hours_added": (
            "AFTER INSERT ON outbox_attempts",
            f"{HOURS} VALUES ({hour.format('NEW.attempted_at')}, NEW.outcome, 1); "
            f"{HOURS} SELECT {hour.format('NEW.attempted_at')}, 'retried', 1 FROM outbox "
            f"WHERE id = NEW.outbox_id AND status = 'sent' AND NEW.outcome IN {FAILED};",
        ),
        "attempt_hours_removed": (
            "AFTER DELETE ON outbox_attempts",
            f"{HOURS} VALUES ({hour.format('OLD.attempted_at')}, OLD.outcome, -1);",
        ),
    }
    return [
        f"CREATE TRIGGER {name} {event} FOR EACH ROW{' WHEN ' if when else ''}{when} "
        f"BEGIN {body} END"
        for name, (event, body) in triggers.items()
        for event, _, when in [event.partition(" WHEN ")]
    ]


def _seed(hour: str) -> list[str]:
    return [
        f"{LISTED} SELECT count(*) FROM suppressions",
        f"{COUNT} SELECT status, channel, resolution IS NOT NULL, count(*) FROM outbox "
        "GROUP BY 1, 2, 3",
        f"{HOURS} SELECT {hour.format('attempted_at')}, outcome, count(*) FROM outbox_attempts "
        "GROUP BY 1, 2",
        f"{HOURS} SELECT {hour.format('a.attempted_at')}, 'retried', count(*) "
        "FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
        f"WHERE a.outcome IN {FAILED} AND o.status = 'sent' GROUP BY 1",
    ]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "outbox_counts",
        sa.Column("id", identity, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "attempt_hours",
        sa.Column("id", identity, primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "suppression_counts",
        sa.Column("id", identity, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "outbox_attempts_failed",
        "outbox_attempts",
        ["attempted_at"],
        postgresql_include=["outcome", "outbox_id"],
        postgresql_where=sa.text("outcome <> 'sent'"),
        sqlite_where=sa.text("outcome <> 'sent'"),
    )
    # Deleting a provider event (with its message, by retention) looks up its suppression.
    op.create_index("suppressions_event", "suppressions", ["event_id"])
    # Retention deletes cancelled messages by age, a batch at a time.
    op.create_index(
        "outbox_cancelled",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("status = 'cancelled'"),
        sqlite_where=sa.text("status = 'cancelled'"),
    )
    if postgresql:
        op.execute("LOCK TABLE outbox, outbox_attempts, suppressions IN SHARE MODE")
    for statement in _seed(PG_HOUR if postgresql else SQLITE_HOUR):
        op.execute(statement)
    for statement in _postgresql() if postgresql else _sqlite():
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    names = [
        "suppression_counts_added",
        "suppression_counts_removed",
        "outbox_counts_added",
        "outbox_counts_removed",
        "outbox_counts_changed",
        "outbox_retried_removed",
        "attempt_hours_added",
        "attempt_hours_removed",
    ]
    if postgresql:
        for name in names:
            table = {"attempt": "outbox_attempts", "suppression": "suppressions"}.get(
                name.partition("_")[0], "outbox"
            )
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in [*names, "outbox_retried_left", "outbox_retried_entered"]:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("suppressions_event", "suppressions")
    op.drop_index("outbox_cancelled", "outbox")
    op.drop_index("outbox_attempts_failed", "outbox_attempts")
    op.drop_table("suppression_counts")
    op.drop_table("attempt_hours")
    op.drop_table("outbox_counts")
