"""The tallies' triggers (revision 0018, widened by 0019): what they count and the SQL that
creates, seeds and drops them, on PostgreSQL and SQLite.

Shared by revisions, so it only grows: a revision must do tomorrow what it did when it shipped.
A revision names the messages it counts by minute (`minutes`: a status and the column saying
when a row entered it), so 0018's triggers stay what they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
# Revision 0018's messages by minute: those sent, by `sent_at`.
SENT = {"sent": "sent_at"}
# The columns each table's triggers read, to name a row of a row trigger as a one-row table
# (the outbox's, and the `minutes` columns).
COLUMNS = {
    "outbox": ("id", "status", "channel", "resolution"),
    "outbox_attempts": ("outbox_id", "attempted_at", "outcome"),
    "suppressions": ("id",),
}


def _rules(
    hour: str, minute: str, since: str, minutes: Mapping[str, str]
) -> dict[str, tuple[str, str, str, list[str]]]:
    """Each trigger: its event, the rows it reads as `batch` (NEW or OLD: the statement's on
    PostgreSQL, else the row's; '': a row trigger reading OLD and NEW; CHANGES: the rows an
    update changed, read as `changes`), when it fires, and its statements."""
    at = hour.format("attempted_at")

    def retried(message: str, sign: str) -> str:
        return (
            f"{HOURS} SELECT {at}, 'retried', {sign}count(*) FROM outbox_attempts "
            f"WHERE outbox_id = {message}.id AND outcome IN {FAILED} GROUP BY 1"
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
            *(
                f"{MINUTES} SELECT {minute.format(column)}, '{kind}', {sign}count(*) FROM batch "
                f"WHERE status = '{kind}' AND {kept(column, sign, '2 hours')} "
                f"AND {column} IS NOT NULL GROUP BY 1"
                for kind, column in minutes.items()
            ),
        ]

    def listed(sign: str) -> list[str]:
        return [f"{LISTED} SELECT {sign}count(*) FROM batch HAVING count(*) > 0"]

    def entered_or_left(kind: str, column: str) -> list[str]:
        left = f"old_status = '{kind}' AND new_status <> '{kind}'"
        entered = f"new_status = '{kind}' AND old_status <> '{kind}'"
        return [
            f"{MINUTES} SELECT {minute.format(f'{side}_{column}')}, '{kind}', {sign}count(*) "
            f"FROM changes WHERE {moved} AND {side}_{column} IS NOT NULL GROUP BY 1"
            for side, sign, moved in (("old", "-", left), ("new", "", entered))
        ]

    sent = "EXISTS (SELECT 1 FROM outbox WHERE id = NEW.outbox_id AND status = 'sent')"
    moved = (
        "(old_status = 'sent' AND new_status <> 'sent') "
        "OR (new_status = 'sent' AND old_status <> 'sent')"
    )
    return {
        "outbox_counts_added": ("INSERT ON outbox", "NEW", "", messages("")),
        "outbox_counts_removed": ("DELETE ON outbox", "OLD", "", messages("-")),
        "outbox_counts_changed": (
            "UPDATE OF status, channel, resolution ON outbox",
            "CHANGES",
            "OLD.status <> NEW.status OR OLD.channel <> NEW.channel "
            "OR (OLD.resolution IS NULL) <> (NEW.resolution IS NULL)",
            [
                f"{COUNT} SELECT status, channel, resolved, sum(n) FROM ("
                "SELECT old_status AS status, old_channel AS channel, old_resolved AS resolved, "
                "-1 AS n FROM changes UNION ALL SELECT new_status, new_channel, new_resolved, 1 "
                "FROM changes) AS moves GROUP BY 1, 2, 3 HAVING sum(n) <> 0",
                f"{HOURS} SELECT {hour.format('a.attempted_at')}, 'retried', "
                "sum(CASE WHEN new_status = 'sent' THEN 1 ELSE -1 END) "
                "FROM changes JOIN outbox_attempts AS a ON a.outbox_id = changes.id "
                f"WHERE ({moved}) AND a.outcome IN {FAILED} GROUP BY 1",
                *(
                    statement
                    for kind, column in minutes.items()
                    for statement in entered_or_left(kind, column)
                ),
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


def create_triggers(
    dialect: str, minutes: Mapping[str, str], *, updates_by_statement: bool = False
) -> list[str]:
    """The statements creating the triggers: on PostgreSQL, a statement's rows at once (its
    transition tables) for inserts and deletes, and for the outbox's updates with
    `updates_by_statement` (revision 0025 on); on SQLite, a row at a time."""
    made = []
    since = SINCE[dialect]
    columns = {**COLUMNS, "outbox": (*COLUMNS["outbox"], *minutes.values())}
    for name, (event, batch, when, body) in _rules(*TRUNCATE[dialect], since, minutes).items():
        table = event.rpartition(" ON ")[2]
        timing = "BEFORE" if when == "RECENT" else "AFTER"
        recent = f"OLD.status = 'sent' AND OLD.sent_at > {since.format('25 hours')}"
        when = recent if when == "RECENT" else when
        rows = {f"{row}_ROW": _one(row, columns[table]) for row in ("OLD", "NEW")}
        each = "ROW"
        if batch == "CHANGES" and dialect == "postgresql" and updates_by_statement:
            # Transition tables take no column list: the statement's rows that changed are
            # found by the trigger's condition instead.
            event = f"UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
            rows["changes"] = _changes(("old_rows", "new_rows"), minutes.values(), when)
            when, each = "", "STATEMENT"
        elif batch == "CHANGES":
            rows["changes"] = _changes(("OLD", "NEW"), minutes.values())
        elif dialect == "sqlite" or not batch:
            rows["batch"] = _one(batch or "NEW", columns[table])
        else:
            rows["batch"] = "added" if batch == "NEW" else "removed"
            event += f" REFERENCING {batch} TABLE AS {rows['batch']}"
            each = "STATEMENT"
        for old, new in rows.items():
            alias = "changes" if old == "changes" else "batch"
            body = [s.replace(f"FROM {old}", f"FROM {new} AS {alias}") for s in body]
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


def drop_triggers(dialect: str) -> list[str]:
    """The statements dropping the triggers (and their functions, on PostgreSQL)."""
    dropped = []
    for name, (event, _, _, _) in _rules("{0}", "{0}", "{0}", {}).items():
        if dialect == "postgresql":
            dropped.append(f"DROP TRIGGER {name} ON {event.rpartition(' ON ')[2]}")
            dropped.append(f"DROP FUNCTION {name}()")
        else:
            dropped.append(f"DROP TRIGGER {name}")
    return dropped


def _changes(sides: tuple[str, str], minutes: Iterable[str], where: str = "") -> str:
    """The outbox rows an update changed, as a table of their old and new values: one row of a
    row trigger (`sides` OLD and NEW), or, `where` naming a change, those of a statement's
    transition tables that changed."""
    old, new = sides
    picked = [f"{new}.id AS id"]
    for prefix, side in (("old", old), ("new", new)):
        picked += [f"{side}.{c} AS {prefix}_{c}" for c in ("status", "channel", *minutes)]
        picked.append(f"{side}.resolution IS NOT NULL AS {prefix}_resolved")
    if not where:
        return f"(SELECT {', '.join(picked)})"
    changed = where.replace("OLD.", f"{old}.").replace("NEW.", f"{new}.")
    return (
        f"(SELECT {', '.join(picked)} FROM {old} JOIN {new} ON {new}.id = {old}.id WHERE {changed})"
    )


def _one(row: str, columns: tuple[str, ...]) -> str:
    """Row `row` of a row trigger as a one-row table."""
    return "(SELECT " + ", ".join(f"{row}.{c} AS {c}" for c in columns) + ")"


def seed(dialect: str, minutes: Mapping[str, str]) -> list[str]:
    """The statements counting the rows present into the tallies."""
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
        *seed_minutes(dialect, minutes),
    ]


def seed_minutes(dialect: str, minutes: Mapping[str, str]) -> list[str]:
    """The statements counting the messages present by minute, of each of `minutes`."""
    minute = TRUNCATE[dialect][1]
    return [
        f"{MINUTES} SELECT {minute.format(column)}, '{kind}', count(*) FROM outbox "
        f"WHERE status = '{kind}' AND {column} IS NOT NULL GROUP BY 1"
        for kind, column in minutes.items()
    ]
