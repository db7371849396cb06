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

The SQL is frozen as shipped, written out below, so that no later change of code changes what
this revision does. Times are cut to their hour and minute by `date_trunc(..., 'UTC')`, or on
SQLite into the text SQLAlchemy writes for a naive UTC datetime, so that they compare as text.
A delete takes back only what is younger than the hours and minutes the tallies keep
(shared/operations/tallies.py: 25 hours, 61 minutes), so a delete of older rows (retention's,
a day old at least) appends none.

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
    for statement in [*SEED[dialect], *TRIGGERS[dialect]]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_index("minute_counts_minute", "minute_counts")
    op.drop_index("attempt_hours_hour", "attempt_hours")
    op.drop_index("suppressions_event", "suppressions")
    op.drop_index("outbox_cancelled", "outbox")
    op.drop_index("outbox_attempts_failed", "outbox_attempts")
    for table in ("suppression_counts", "minute_counts", "attempt_hours", "outbox_counts"):
        op.drop_table(table)


# The rows present, counted into the tallies.
SEED = {
    "postgresql": [
        "INSERT INTO suppression_counts (n) SELECT count(*) FROM suppressions",
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, count(*) FROM outbox GROUP BY 1, 2, 3",
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), outcome, count(*) FROM outbox_attempts GROUP BY 1, 2",
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', a.attempted_at, "
        "'UTC'), 'retried', count(*) FROM outbox_attempts a "
        "JOIN outbox o ON o.id = a.outbox_id WHERE a.outcome IN ('transient', 'permanent') "
        "AND o.status = 'sent' GROUP BY 1",
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, "
        "'UTC'), outcome, count(*) FROM outbox_attempts WHERE outcome <> 'sent' GROUP BY 1, 2",
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), "
        "'sent', count(*) FROM outbox WHERE status = 'sent' AND sent_at IS NOT NULL GROUP BY 1",
    ],
    "sqlite": [
        "INSERT INTO suppression_counts (n) SELECT count(*) FROM suppressions",
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, count(*) FROM outbox GROUP BY 1, 2, 3",
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), outcome, count(*) FROM outbox_attempts GROUP BY 1, 2",
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "a.attempted_at), 'retried', count(*) FROM outbox_attempts a "
        "JOIN outbox o ON o.id = a.outbox_id WHERE a.outcome IN ('transient', 'permanent') "
        "AND o.status = 'sent' GROUP BY 1",
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "attempted_at), outcome, count(*) FROM outbox_attempts WHERE outcome <> 'sent' "
        "GROUP BY 1, 2",
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "sent_at), 'sent', count(*) FROM outbox WHERE status = 'sent' "
        "AND sent_at IS NOT NULL GROUP BY 1",
    ],
}

# The triggers (on PostgreSQL, a function and the trigger running it each).
TRIGGERS = {
    "postgresql": [
        "CREATE FUNCTION outbox_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, count(*) FROM added AS batch "
        "GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), "
        "'sent', count(*) FROM added AS batch WHERE status = 'sent' AND true "
        "AND sent_at IS NOT NULL GROUP BY 1; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER outbox_counts_added AFTER INSERT ON outbox "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_added()",
        "CREATE FUNCTION outbox_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, -count(*) FROM removed AS batch "
        "GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), "
        "'sent', -count(*) FROM removed AS batch WHERE status = 'sent' "
        "AND sent_at > now() - interval '2 hours' AND sent_at IS NOT NULL GROUP BY 1; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER outbox_counts_removed AFTER DELETE ON outbox "
        "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION outbox_counts_removed()",
        "CREATE FUNCTION outbox_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel "
        "AS channel, old_resolved AS resolved, -1 AS n FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT "
        "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at "
        "AS new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes UNION ALL "
        "SELECT new_status, new_channel, new_resolved, 1 FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT "
        "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at "
        "AS new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes) AS moves "
        "GROUP BY 1, 2, 3 HAVING sum(n) <> 0; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', a.attempted_at, "
        "'UTC'), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
        "FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS old_channel, "
        "OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS "
        "new_status, NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.resolution IS NOT "
        "NULL AS new_resolved) AS changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id "
        "WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' "
        "AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_sent_at, "
        "'UTC'), 'sent', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS "
        "old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
        "new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes "
        "WHERE old_status = 'sent' AND new_status <> 'sent' AND old_sent_at IS NOT NULL "
        "GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_sent_at, "
        "'UTC'), 'sent', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel "
        "AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS old_resolved, "
        "NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, "
        "NEW.resolution IS NOT NULL AS new_resolved) AS changes WHERE new_status = 'sent' "
        "AND old_status <> 'sent' AND new_sent_at IS NOT NULL GROUP BY 1; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER outbox_counts_changed AFTER UPDATE OF status, channel, resolution ON "
        "outbox FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
        "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)) "
        "EXECUTE FUNCTION outbox_counts_changed()",
        "CREATE FUNCTION outbox_retried_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), 'retried', -count(*) FROM outbox_attempts WHERE outbox_id = OLD.id "
        "AND outcome IN ('transient', 'permanent') GROUP BY 1; "
        "RETURN OLD; "
        "END $$",
        "CREATE TRIGGER outbox_retried_removed BEFORE DELETE ON outbox FOR EACH ROW "
        "WHEN (OLD.status = 'sent' AND OLD.sent_at > now() - interval '25 hours') "
        "EXECUTE FUNCTION outbox_retried_removed()",
        "CREATE FUNCTION attempt_hours_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), outcome, count(*) FROM added AS batch WHERE true GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, "
        "'UTC'), outcome, count(*) FROM added AS batch WHERE outcome <> 'sent' AND true "
        "GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', "
        "batch.attempted_at, 'UTC'), 'retried', count(*) FROM added AS batch "
        "JOIN outbox ON outbox.id = batch.outbox_id WHERE batch.outcome IN ('transient', "
        "'permanent') AND outbox.status = 'sent' GROUP BY 1; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER attempt_hours_added AFTER INSERT ON outbox_attempts "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION attempt_hours_added()",
        "CREATE FUNCTION attempt_hours_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), outcome, -count(*) FROM removed AS batch "
        "WHERE attempted_at > now() - interval '26 hours' GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, "
        "'UTC'), outcome, -count(*) FROM removed AS batch WHERE outcome <> 'sent' "
        "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER attempt_hours_removed AFTER DELETE ON outbox_attempts "
        "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION attempt_hours_removed()",
        "CREATE FUNCTION attempt_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS "
        "attempted_at, OLD.outcome AS outcome) AS batch WHERE attempted_at > now() - interval '26 "
        "hours' GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, "
        "'UTC'), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS "
        "attempted_at, OLD.outcome AS outcome) AS batch WHERE outcome <> 'sent' "
        "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, "
        "'UTC'), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS "
        "attempted_at, NEW.outcome AS outcome) AS batch WHERE true GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, "
        "'UTC'), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS "
        "attempted_at, NEW.outcome AS outcome) AS batch WHERE outcome <> 'sent' AND true "
        "GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', OLD.attempted_at, "
        "'UTC'), 'retried', -1 WHERE OLD.outcome IN ('transient', 'permanent') "
        "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', NEW.attempted_at, "
        "'UTC'), 'retried', 1 WHERE NEW.outcome IN ('transient', 'permanent') "
        "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER attempt_hours_changed AFTER UPDATE OF outcome, attempted_at ON "
        "outbox_attempts FOR EACH ROW WHEN (OLD.outcome <> NEW.outcome "
        "OR OLD.attempted_at <> NEW.attempted_at) EXECUTE FUNCTION attempt_hours_changed()",
        "CREATE FUNCTION suppression_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO suppression_counts (n) SELECT count(*) FROM added AS batch "
        "HAVING count(*) > 0; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER suppression_counts_added AFTER INSERT ON suppressions "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION suppression_counts_added()",
        "CREATE FUNCTION suppression_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO suppression_counts (n) SELECT -count(*) FROM removed AS batch "
        "HAVING count(*) > 0; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER suppression_counts_removed AFTER DELETE ON suppressions "
        "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION suppression_counts_removed()",
    ],
    "sqlite": [
        "CREATE TRIGGER outbox_counts_added AFTER INSERT ON outbox FOR EACH ROW BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, count(*) "
        "FROM (SELECT NEW.id AS id, NEW.status AS status, NEW.channel AS channel, NEW.resolution "
        "AS resolution, NEW.sent_at AS sent_at) AS batch GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "sent_at), 'sent', count(*) FROM (SELECT NEW.id AS id, NEW.status AS status, NEW.channel "
        "AS channel, NEW.resolution AS resolution, NEW.sent_at AS sent_at) AS batch "
        "WHERE status = 'sent' AND true AND sent_at IS NOT NULL GROUP BY 1; "
        "END",
        "CREATE TRIGGER outbox_counts_removed AFTER DELETE ON outbox FOR EACH ROW BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, -count(*) "
        "FROM (SELECT OLD.id AS id, OLD.status AS status, OLD.channel AS channel, OLD.resolution "
        "AS resolution, OLD.sent_at AS sent_at) AS batch GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "sent_at), 'sent', -count(*) FROM (SELECT OLD.id AS id, OLD.status AS status, OLD.channel "
        "AS channel, OLD.resolution AS resolution, OLD.sent_at AS sent_at) AS batch "
        "WHERE status = 'sent' AND sent_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 hours') "
        "AND sent_at IS NOT NULL GROUP BY 1; "
        "END",
        "CREATE TRIGGER outbox_counts_changed AFTER UPDATE OF status, channel, resolution ON "
        "outbox FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
        "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)) BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel "
        "AS channel, old_resolved AS resolved, -1 AS n FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT "
        "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at "
        "AS new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes UNION ALL "
        "SELECT new_status, new_channel, new_resolved, 1 FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT "
        "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at "
        "AS new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes) AS moves "
        "GROUP BY 1, 2, 3 HAVING sum(n) <> 0; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "a.attempted_at), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
        "FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS old_channel, "
        "OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS "
        "new_status, NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.resolution IS NOT "
        "NULL AS new_resolved) AS changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id "
        "WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' "
        "AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "old_sent_at), 'sent', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS "
        "old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
        "new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes "
        "WHERE old_status = 'sent' AND new_status <> 'sent' AND old_sent_at IS NOT NULL "
        "GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "new_sent_at), 'sent', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.resolution IS NOT NULL AS "
        "old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
        "new_sent_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes "
        "WHERE new_status = 'sent' AND old_status <> 'sent' AND new_sent_at IS NOT NULL "
        "GROUP BY 1; "
        "END",
        "CREATE TRIGGER outbox_retried_removed BEFORE DELETE ON outbox FOR EACH ROW "
        "WHEN (OLD.status = 'sent' AND OLD.sent_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-25 "
        "hours')) BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), 'retried', -count(*) FROM outbox_attempts WHERE outbox_id = OLD.id "
        "AND outcome IN ('transient', 'permanent') GROUP BY 1; "
        "END",
        "CREATE TRIGGER attempt_hours_added AFTER INSERT ON outbox_attempts FOR EACH ROW BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, "
        "NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch WHERE true "
        "GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "attempted_at), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, "
        "NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch "
        "WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "batch.attempted_at), 'retried', count(*) FROM (SELECT NEW.outbox_id AS outbox_id, "
        "NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch "
        "JOIN outbox ON outbox.id = batch.outbox_id WHERE batch.outcome IN ('transient', "
        "'permanent') AND outbox.status = 'sent' GROUP BY 1; "
        "END",
        "CREATE TRIGGER attempt_hours_removed AFTER DELETE ON outbox_attempts FOR EACH ROW BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, "
        "OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch "
        "WHERE attempted_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-26 hours') GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "attempted_at), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, "
        "OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch "
        "WHERE outcome <> 'sent' AND attempted_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 "
        "hours') GROUP BY 1, 2; "
        "END",
        "CREATE TRIGGER attempt_hours_changed AFTER UPDATE OF outcome, attempted_at ON "
        "outbox_attempts FOR EACH ROW WHEN (OLD.outcome <> NEW.outcome "
        "OR OLD.attempted_at <> NEW.attempted_at) BEGIN "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, "
        "OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch "
        "WHERE attempted_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-26 hours') GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "attempted_at), outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, "
        "OLD.attempted_at AS attempted_at, OLD.outcome AS outcome) AS batch "
        "WHERE outcome <> 'sent' AND attempted_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 "
        "hours') GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "attempted_at), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, "
        "NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch WHERE true "
        "GROUP BY 1, 2; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "attempted_at), outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, "
        "NEW.attempted_at AS attempted_at, NEW.outcome AS outcome) AS batch "
        "WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "OLD.attempted_at), 'retried', -1 WHERE OLD.outcome IN ('transient', 'permanent') "
        "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "NEW.attempted_at), 'retried', 1 WHERE NEW.outcome IN ('transient', 'permanent') "
        "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
        "END",
        "CREATE TRIGGER suppression_counts_added AFTER INSERT ON suppressions FOR EACH ROW BEGIN "
        "INSERT INTO suppression_counts (n) SELECT count(*) "
        "FROM (SELECT NEW.id AS id) AS batch HAVING count(*) > 0; "
        "END",
        "CREATE TRIGGER suppression_counts_removed AFTER DELETE ON suppressions FOR EACH ROW BEGIN "
        "INSERT INTO suppression_counts (n) SELECT -count(*) "
        "FROM (SELECT OLD.id AS id) AS batch HAVING count(*) > 0; "
        "END",
    ],
}

# The triggers dropped, and their functions on PostgreSQL.
DROP = {
    "postgresql": [
        "DROP TRIGGER outbox_counts_added ON outbox",
        "DROP FUNCTION outbox_counts_added()",
        "DROP TRIGGER outbox_counts_removed ON outbox",
        "DROP FUNCTION outbox_counts_removed()",
        "DROP TRIGGER outbox_counts_changed ON outbox",
        "DROP FUNCTION outbox_counts_changed()",
        "DROP TRIGGER outbox_retried_removed ON outbox",
        "DROP FUNCTION outbox_retried_removed()",
        "DROP TRIGGER attempt_hours_added ON outbox_attempts",
        "DROP FUNCTION attempt_hours_added()",
        "DROP TRIGGER attempt_hours_removed ON outbox_attempts",
        "DROP FUNCTION attempt_hours_removed()",
        "DROP TRIGGER attempt_hours_changed ON outbox_attempts",
        "DROP FUNCTION attempt_hours_changed()",
        "DROP TRIGGER suppression_counts_added ON suppressions",
        "DROP FUNCTION suppression_counts_added()",
        "DROP TRIGGER suppression_counts_removed ON suppressions",
        "DROP FUNCTION suppression_counts_removed()",
    ],
    "sqlite": [
        "DROP TRIGGER outbox_counts_added",
        "DROP TRIGGER outbox_counts_removed",
        "DROP TRIGGER outbox_counts_changed",
        "DROP TRIGGER outbox_retried_removed",
        "DROP TRIGGER attempt_hours_added",
        "DROP TRIGGER attempt_hours_removed",
        "DROP TRIGGER attempt_hours_changed",
        "DROP TRIGGER suppression_counts_added",
        "DROP TRIGGER suppression_counts_removed",
    ],
}
