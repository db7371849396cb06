"""What operators read stays flat with the data: when a message died, counted by minute, and the
indexes the lists of stranded accounts and suppressions read.

`outbox.dead_at` is when a message died (the relay's outcome that killed it); the tallies'
triggers count the dead by that minute in `minute_counts` (`dead`), as they count the sent by
`sent_at`, so the last hour's deaths add up a minute at a time instead of probing each death.
Messages already dead take their last attempt's time, or their creation's if never tried.

`outbox_activations` finds an account's latest activation; `outbox_events_dead` the unresolved
dead `account.activated` events; `suppressions_address` whether a message's address is
suppressed, and `suppressions_created` the newest suppressions: each list reads what it shows
instead of every row (bench/README.md, issue 51). `outbox_dead_at` reads the dead rows of the
hour's first minute.

Writes wait while the dead rows are stamped and counted, and while the indexes are built (a few
seconds at 10M messages, as for revision 0018).

The tallies' SQL is frozen as shipped, written out below (as revision 0018's is, which says how
it reads), so that no later change of code changes what this revision does.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STAMP = (
    "UPDATE outbox SET dead_at = coalesce((SELECT max(attempted_at) FROM outbox_attempts "
    "WHERE outbox_id = outbox.id), created_at) WHERE status = 'dead'"
)


def _where(clause: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(clause), "sqlite_where": sa.text(clause)}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("outbox", sa.Column("dead_at", sa.DateTime(timezone=True)))
    if dialect == "postgresql":
        op.execute("LOCK TABLE outbox, outbox_attempts IN SHARE MODE")
    op.execute(STAMP)
    for statement in [*DROP[dialect], *TRIGGERS[dialect], *SEED_DEAD[dialect]]:
        op.execute(statement)
    op.create_index("outbox_dead_at", "outbox", ["dead_at"], **_where("status = 'dead'"))
    op.create_index(
        "outbox_activations", "outbox", ["user_id", "id"], **_where("purpose = 'activation'")
    )
    op.create_index(
        "outbox_events_dead",
        "outbox",
        ["user_id"],
        **_where("purpose = 'account.activated' AND status = 'dead' AND resolution IS NULL"),
    )
    op.create_index("suppressions_address", "suppressions", ["address"])
    op.create_index("suppressions_created", "suppressions", ["created_at", "id"])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in [
        *DROP[dialect],
        *TRIGGERS_0018[dialect],
        "DELETE FROM minute_counts WHERE kind = 'dead'",
    ]:
        op.execute(statement)
    for table, index in (
        ("suppressions", "suppressions_created"),
        ("suppressions", "suppressions_address"),
        ("outbox", "outbox_events_dead"),
        ("outbox", "outbox_activations"),
        ("outbox", "outbox_dead_at"),
    ):
        op.drop_index(index, table)
    op.drop_column("outbox", "dead_at")


# Revision 0018's triggers dropped, and their functions on PostgreSQL.
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

# The triggers made again, counting the dead by `dead_at` beside the sent by `sent_at`.
TRIGGERS = {
    "postgresql": [
        "CREATE FUNCTION outbox_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, count(*) FROM added AS batch "
        "GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', sent_at, 'UTC'), "
        "'sent', count(*) FROM added AS batch WHERE status = 'sent' AND true "
        "AND sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', dead_at, 'UTC'), "
        "'dead', count(*) FROM added AS batch WHERE status = 'dead' AND true "
        "AND dead_at IS NOT NULL GROUP BY 1; "
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
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', dead_at, 'UTC'), "
        "'dead', -count(*) FROM removed AS batch WHERE status = 'dead' "
        "AND dead_at > now() - interval '2 hours' AND dead_at IS NOT NULL GROUP BY 1; "
        "RETURN NULL; "
        "END $$",
        "CREATE TRIGGER outbox_counts_removed AFTER DELETE ON outbox "
        "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION outbox_counts_removed()",
        "CREATE FUNCTION outbox_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel "
        "AS channel, old_resolved AS resolved, -1 AS n FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS "
        "old_dead_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, "
        "NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, "
        "NEW.resolution IS NOT NULL AS new_resolved) AS changes UNION ALL "
        "SELECT new_status, new_channel, new_resolved, 1 FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS "
        "old_dead_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, "
        "NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, "
        "NEW.resolution IS NOT NULL AS new_resolved) AS changes) AS moves GROUP BY 1, 2, 3 "
        "HAVING sum(n) <> 0; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', a.attempted_at, "
        "'UTC'), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
        "FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS old_channel, "
        "OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT NULL AS "
        "old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
        "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
        "changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id "
        "WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' "
        "AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_sent_at, "
        "'UTC'), 'sent', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE old_status = 'sent' "
        "AND new_status <> 'sent' AND old_sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_sent_at, "
        "'UTC'), 'sent', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel "
        "AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS "
        "NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, "
        "NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS "
        "new_resolved) AS changes WHERE new_status = 'sent' AND old_status <> 'sent' "
        "AND new_sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_dead_at, "
        "'UTC'), 'dead', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE old_status = 'dead' "
        "AND new_status <> 'dead' AND old_dead_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_dead_at, "
        "'UTC'), 'dead', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel "
        "AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS "
        "NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, "
        "NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS "
        "new_resolved) AS changes WHERE new_status = 'dead' AND old_status <> 'dead' "
        "AND new_dead_at IS NOT NULL GROUP BY 1; "
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
        "AS resolution, NEW.sent_at AS sent_at, NEW.dead_at AS dead_at) AS batch GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "sent_at), 'sent', count(*) FROM (SELECT NEW.id AS id, NEW.status AS status, NEW.channel "
        "AS channel, NEW.resolution AS resolution, NEW.sent_at AS sent_at, NEW.dead_at AS dead_at) "
        "AS batch WHERE status = 'sent' AND true AND sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "dead_at), 'dead', count(*) FROM (SELECT NEW.id AS id, NEW.status AS status, NEW.channel "
        "AS channel, NEW.resolution AS resolution, NEW.sent_at AS sent_at, NEW.dead_at AS dead_at) "
        "AS batch WHERE status = 'dead' AND true AND dead_at IS NOT NULL GROUP BY 1; "
        "END",
        "CREATE TRIGGER outbox_counts_removed AFTER DELETE ON outbox FOR EACH ROW BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolution IS NOT NULL, -count(*) "
        "FROM (SELECT OLD.id AS id, OLD.status AS status, OLD.channel AS channel, OLD.resolution "
        "AS resolution, OLD.sent_at AS sent_at, OLD.dead_at AS dead_at) AS batch GROUP BY 1, 2, 3; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "sent_at), 'sent', -count(*) FROM (SELECT OLD.id AS id, OLD.status AS status, OLD.channel "
        "AS channel, OLD.resolution AS resolution, OLD.sent_at AS sent_at, OLD.dead_at AS dead_at) "
        "AS batch WHERE status = 'sent' AND sent_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 "
        "hours') AND sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "dead_at), 'dead', -count(*) FROM (SELECT OLD.id AS id, OLD.status AS status, OLD.channel "
        "AS channel, OLD.resolution AS resolution, OLD.sent_at AS sent_at, OLD.dead_at AS dead_at) "
        "AS batch WHERE status = 'dead' AND dead_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 "
        "hours') AND dead_at IS NOT NULL GROUP BY 1; "
        "END",
        "CREATE TRIGGER outbox_counts_changed AFTER UPDATE OF status, channel, resolution ON "
        "outbox FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
        "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)) BEGIN "
        "INSERT INTO outbox_counts (status, channel, resolved, n) "
        "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel "
        "AS channel, old_resolved AS resolved, -1 AS n FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS "
        "old_dead_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, "
        "NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, "
        "NEW.resolution IS NOT NULL AS new_resolved) AS changes UNION ALL "
        "SELECT new_status, new_channel, new_resolved, 1 FROM (SELECT NEW.id AS id, OLD.status AS "
        "old_status, OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS "
        "old_dead_at, OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, "
        "NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, "
        "NEW.resolution IS NOT NULL AS new_resolved) AS changes) AS moves GROUP BY 1, 2, 3 "
        "HAVING sum(n) <> 0; "
        "INSERT INTO attempt_hours (hour, outcome, n) SELECT strftime('%Y-%m-%d %H:00:00.000000', "
        "a.attempted_at), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
        "FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS old_channel, "
        "OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT NULL AS "
        "old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
        "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
        "changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id "
        "WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' "
        "AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "old_sent_at), 'sent', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE old_status = 'sent' "
        "AND new_status <> 'sent' AND old_sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "new_sent_at), 'sent', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE new_status = 'sent' "
        "AND old_status <> 'sent' AND new_sent_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "old_dead_at), 'dead', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE old_status = 'dead' "
        "AND new_status <> 'dead' AND old_dead_at IS NOT NULL GROUP BY 1; "
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "new_dead_at), 'dead', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, "
        "OLD.channel AS old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, "
        "OLD.resolution IS NOT NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS "
        "new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS "
        "NOT NULL AS new_resolved) AS changes WHERE new_status = 'dead' "
        "AND old_status <> 'dead' AND new_dead_at IS NOT NULL GROUP BY 1; "
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

# The dead messages present, counted by minute.
SEED_DEAD = {
    "postgresql": [
        "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', dead_at, 'UTC'), "
        "'dead', count(*) FROM outbox WHERE status = 'dead' AND dead_at IS NOT NULL GROUP BY 1",
    ],
    "sqlite": [
        "INSERT INTO minute_counts (minute, kind, n) SELECT strftime('%Y-%m-%d %H:%M:00.000000', "
        "dead_at), 'dead', count(*) FROM outbox WHERE status = 'dead' "
        "AND dead_at IS NOT NULL GROUP BY 1",
    ],
}

# Revision 0018's triggers, which the downgrade puts back.
TRIGGERS_0018 = {
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
