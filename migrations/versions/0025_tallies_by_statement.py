"""The tallies count an update of many outbox rows once, not once a row (PostgreSQL).

Until now the outbox's update trigger ran for each row whose status, channel or resolution
changed, seven statements each: marking half a relay's batch sent (50 rows) ran 350 of them. It
now runs once a statement over the statement's transition tables, whatever rows it changed,
and counts the same (docs/decisions/0035-tallies-by-statement.md).
PostgreSQL gives transition tables to no trigger limited to some columns, so it fires for
every update of the outbox and finds the rows that changed itself. SQLite keeps its row
triggers, which have no other kind.

Only triggers change, in one short transaction; no row is read or written. The downgrade
puts back the row trigger. The SQL is frozen as shipped, written out below, so that no later
change of code changes what this revision does.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _triggers(BY_STATEMENT)


def downgrade() -> None:
    _triggers(BY_ROW)


def _triggers(made: list[str]) -> None:
    """The tallies' triggers dropped and made again as `made` (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in [*DROP, *made]:
        op.execute(statement)


# The triggers dropped, with their functions.
DROP = [
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
]

# The triggers with the outbox's updates counted a statement at a time (over `old_rows` and
# `new_rows`, keeping the rows that changed).
BY_STATEMENT = [
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
    "CREATE TRIGGER outbox_counts_added AFTER INSERT ON outbox REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_added()",
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
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_removed()",
    "CREATE FUNCTION outbox_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO outbox_counts (status, channel, resolved, n) "
    "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel AS "
    "channel, old_resolved AS resolved, -1 AS n FROM (SELECT new_rows.id AS id, old_rows.status AS "
    "old_status, old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, "
    "old_rows.dead_at AS old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, "
    "new_rows.status AS new_status, new_rows.channel AS new_channel, new_rows.sent_at AS "
    "new_sent_at, new_rows.dead_at AS new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved "
    "FROM old_rows JOIN new_rows ON new_rows.id = old_rows.id "
    "WHERE old_rows.status <> new_rows.status OR old_rows.channel <> new_rows.channel "
    "OR (old_rows.resolution IS NULL) <> (new_rows.resolution IS NULL)) AS changes "
    "UNION ALL SELECT new_status, new_channel, new_resolved, 1 "
    "FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS "
    "old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, "
    "old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes) AS moves GROUP BY 1, 2, 3 HAVING sum(n) <> 0; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', a.attempted_at, "
    "'UTC'), 'retried', sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
    "FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, old_rows.channel AS "
    "old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS old_dead_at, "
    "old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes JOIN outbox_attempts AS a ON a.outbox_id = "
    "changes.id WHERE ((old_status = 'sent' AND new_status <> 'sent') OR (new_status = 'sent' "
    "AND old_status <> 'sent')) AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_sent_at, 'UTC'), "
    "'sent', -count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, "
    "old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS "
    "old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes WHERE old_status = 'sent' "
    "AND new_status <> 'sent' AND old_sent_at IS NOT NULL GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_sent_at, 'UTC'), "
    "'sent', count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, "
    "old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS "
    "old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes WHERE new_status = 'sent' "
    "AND old_status <> 'sent' AND new_sent_at IS NOT NULL GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_dead_at, 'UTC'), "
    "'dead', -count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, "
    "old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS "
    "old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes WHERE old_status = 'dead' "
    "AND new_status <> 'dead' AND old_dead_at IS NOT NULL GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_dead_at, 'UTC'), "
    "'dead', count(*) FROM (SELECT new_rows.id AS id, old_rows.status AS old_status, "
    "old_rows.channel AS old_channel, old_rows.sent_at AS old_sent_at, old_rows.dead_at AS "
    "old_dead_at, old_rows.resolution IS NOT NULL AS old_resolved, new_rows.status AS new_status, "
    "new_rows.channel AS new_channel, new_rows.sent_at AS new_sent_at, new_rows.dead_at AS "
    "new_dead_at, new_rows.resolution IS NOT NULL AS new_resolved FROM old_rows "
    "JOIN new_rows ON new_rows.id = old_rows.id WHERE old_rows.status <> new_rows.status "
    "OR old_rows.channel <> new_rows.channel OR (old_rows.resolution IS NULL) <> "
    "(new_rows.resolution IS NULL)) AS changes WHERE new_status = 'dead' "
    "AND old_status <> 'dead' AND new_dead_at IS NOT NULL GROUP BY 1; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER outbox_counts_changed AFTER UPDATE ON outbox "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION outbox_counts_changed()",
    "CREATE FUNCTION outbox_retried_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "'retried', -count(*) FROM outbox_attempts WHERE outbox_id = OLD.id "
    "AND outcome IN ('transient', 'permanent') GROUP BY 1; "
    "RETURN OLD; "
    "END $$",
    "CREATE TRIGGER outbox_retried_removed BEFORE DELETE ON outbox FOR EACH ROW "
    "WHEN (OLD.status = 'sent' AND OLD.sent_at > now() - interval '25 hours') "
    "EXECUTE FUNCTION outbox_retried_removed()",
    "CREATE FUNCTION attempt_hours_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, count(*) FROM added AS batch WHERE true GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, count(*) FROM added AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', batch.attempted_at, "
    "'UTC'), 'retried', count(*) FROM added AS batch JOIN outbox ON outbox.id = batch.outbox_id "
    "WHERE batch.outcome IN ('transient', 'permanent') AND outbox.status = 'sent' GROUP BY 1; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_added AFTER INSERT ON outbox_attempts "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION attempt_hours_added()",
    "CREATE FUNCTION attempt_hours_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM removed AS batch WHERE attempted_at > now() - interval '26 hours' "
    "GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM removed AS batch WHERE outcome <> 'sent' "
    "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_removed AFTER DELETE ON outbox_attempts "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION attempt_hours_removed()",
    "CREATE FUNCTION attempt_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, "
    "OLD.outcome AS outcome) AS batch WHERE attempted_at > now() - interval '26 hours' "
    "GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, "
    "OLD.outcome AS outcome) AS batch WHERE outcome <> 'sent' "
    "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, "
    "NEW.outcome AS outcome) AS batch WHERE true GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, "
    "NEW.outcome AS outcome) AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', OLD.attempted_at, "
    "'UTC'), 'retried', -1 WHERE OLD.outcome IN ('transient', 'permanent') "
    "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', NEW.attempted_at, "
    "'UTC'), 'retried', 1 WHERE NEW.outcome IN ('transient', 'permanent') "
    "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_changed AFTER UPDATE OF outcome, attempted_at ON outbox_attempts "
    "FOR EACH ROW WHEN (OLD.outcome <> NEW.outcome OR OLD.attempted_at <> NEW.attempted_at) "
    "EXECUTE FUNCTION attempt_hours_changed()",
    "CREATE FUNCTION suppression_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO suppression_counts (n) SELECT count(*) FROM added AS batch HAVING count(*) > 0; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER suppression_counts_added AFTER INSERT ON suppressions "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION suppression_counts_added()",
    "CREATE FUNCTION suppression_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO suppression_counts (n) SELECT -count(*) FROM removed AS batch "
    "HAVING count(*) > 0; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER suppression_counts_removed AFTER DELETE ON suppressions "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION suppression_counts_removed()",
]

# The triggers as revision 0019 made them, the outbox's updates counted a row at a time,
# which the downgrade puts back.
BY_ROW = [
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
    "CREATE TRIGGER outbox_counts_added AFTER INSERT ON outbox REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_added()",
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
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_removed()",
    "CREATE FUNCTION outbox_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO outbox_counts (status, channel, resolved, n) "
    "SELECT status, channel, resolved, sum(n) FROM (SELECT old_status AS status, old_channel AS "
    "channel, old_resolved AS resolved, -1 AS n FROM (SELECT NEW.id AS id, OLD.status AS "
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
    "FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS old_channel, OLD.sent_at "
    "AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT NULL AS old_resolved, "
    "NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS new_sent_at, NEW.dead_at "
    "AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS changes "
    "JOIN outbox_attempts AS a ON a.outbox_id = changes.id WHERE ((old_status = 'sent' "
    "AND new_status <> 'sent') OR (new_status = 'sent' AND old_status <> 'sent')) "
    "AND a.outcome IN ('transient', 'permanent') GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_sent_at, 'UTC'), "
    "'sent', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS "
    "old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT "
    "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
    "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
    "changes WHERE old_status = 'sent' AND new_status <> 'sent' AND old_sent_at IS NOT NULL "
    "GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_sent_at, 'UTC'), "
    "'sent', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS "
    "old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT "
    "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
    "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
    "changes WHERE new_status = 'sent' AND old_status <> 'sent' AND new_sent_at IS NOT NULL "
    "GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', old_dead_at, 'UTC'), "
    "'dead', -count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS "
    "old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT "
    "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
    "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
    "changes WHERE old_status = 'dead' AND new_status <> 'dead' AND old_dead_at IS NOT NULL "
    "GROUP BY 1; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', new_dead_at, 'UTC'), "
    "'dead', count(*) FROM (SELECT NEW.id AS id, OLD.status AS old_status, OLD.channel AS "
    "old_channel, OLD.sent_at AS old_sent_at, OLD.dead_at AS old_dead_at, OLD.resolution IS NOT "
    "NULL AS old_resolved, NEW.status AS new_status, NEW.channel AS new_channel, NEW.sent_at AS "
    "new_sent_at, NEW.dead_at AS new_dead_at, NEW.resolution IS NOT NULL AS new_resolved) AS "
    "changes WHERE new_status = 'dead' AND old_status <> 'dead' AND new_dead_at IS NOT NULL "
    "GROUP BY 1; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER outbox_counts_changed AFTER UPDATE OF status, channel, resolution ON outbox "
    "FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
    "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)) "
    "EXECUTE FUNCTION outbox_counts_changed()",
    "CREATE FUNCTION outbox_retried_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "'retried', -count(*) FROM outbox_attempts WHERE outbox_id = OLD.id "
    "AND outcome IN ('transient', 'permanent') GROUP BY 1; "
    "RETURN OLD; "
    "END $$",
    "CREATE TRIGGER outbox_retried_removed BEFORE DELETE ON outbox FOR EACH ROW "
    "WHEN (OLD.status = 'sent' AND OLD.sent_at > now() - interval '25 hours') "
    "EXECUTE FUNCTION outbox_retried_removed()",
    "CREATE FUNCTION attempt_hours_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, count(*) FROM added AS batch WHERE true GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, count(*) FROM added AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', batch.attempted_at, "
    "'UTC'), 'retried', count(*) FROM added AS batch JOIN outbox ON outbox.id = batch.outbox_id "
    "WHERE batch.outcome IN ('transient', 'permanent') AND outbox.status = 'sent' GROUP BY 1; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_added AFTER INSERT ON outbox_attempts "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION attempt_hours_added()",
    "CREATE FUNCTION attempt_hours_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM removed AS batch WHERE attempted_at > now() - interval '26 hours' "
    "GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM removed AS batch WHERE outcome <> 'sent' "
    "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_removed AFTER DELETE ON outbox_attempts "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION attempt_hours_removed()",
    "CREATE FUNCTION attempt_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, "
    "OLD.outcome AS outcome) AS batch WHERE attempted_at > now() - interval '26 hours' "
    "GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, -count(*) FROM (SELECT OLD.outbox_id AS outbox_id, OLD.attempted_at AS attempted_at, "
    "OLD.outcome AS outcome) AS batch WHERE outcome <> 'sent' "
    "AND attempted_at > now() - interval '2 hours' GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', attempted_at, 'UTC'), "
    "outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, "
    "NEW.outcome AS outcome) AS batch WHERE true GROUP BY 1, 2; "
    "INSERT INTO minute_counts (minute, kind, n) SELECT date_trunc('minute', attempted_at, 'UTC'), "
    "outcome, count(*) FROM (SELECT NEW.outbox_id AS outbox_id, NEW.attempted_at AS attempted_at, "
    "NEW.outcome AS outcome) AS batch WHERE outcome <> 'sent' AND true GROUP BY 1, 2; "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', OLD.attempted_at, "
    "'UTC'), 'retried', -1 WHERE OLD.outcome IN ('transient', 'permanent') "
    "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
    "INSERT INTO attempt_hours (hour, outcome, n) SELECT date_trunc('hour', NEW.attempted_at, "
    "'UTC'), 'retried', 1 WHERE NEW.outcome IN ('transient', 'permanent') "
    "AND EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent'); "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER attempt_hours_changed AFTER UPDATE OF outcome, attempted_at ON outbox_attempts "
    "FOR EACH ROW WHEN (OLD.outcome <> NEW.outcome OR OLD.attempted_at <> NEW.attempted_at) "
    "EXECUTE FUNCTION attempt_hours_changed()",
    "CREATE FUNCTION suppression_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO suppression_counts (n) SELECT count(*) FROM added AS batch HAVING count(*) > 0; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER suppression_counts_added AFTER INSERT ON suppressions "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION suppression_counts_added()",
    "CREATE FUNCTION suppression_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO suppression_counts (n) SELECT -count(*) FROM removed AS batch "
    "HAVING count(*) > 0; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER suppression_counts_removed AFTER DELETE ON suppressions "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
    "EXECUTE FUNCTION suppression_counts_removed()",
]
