"""Withheld notices and unsubscribing: a row the relay ends `withheld` instead of sending it (a
number that never signed up gets no SMS; a "no account" mail past its budget is not sent), the
rule applied to what is queued (pending "no account" SMS are withheld from now on), and the
suppression reason `unsubscribed` (RFC 8058 one-click, from a "no account" mail).

On SQLite the constraints are changed in place, in the table's stored definition, as
revision 0013 changed the purposes' (a rebuilt table would take every attempt with it). On
PostgreSQL the new constraint is added NOT VALID and then validated, which reads the table
without blocking the writes of a running service; the column, with a constant default, is
added without rewriting the table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
STATUSES = ("pending", "sent", "dead", "cancelled", "bounced")
WITH_WITHHELD = (*STATUSES, "withheld")
REASONS = ("hard_bounce", "complaint", "rejected")
WITH_UNSUBSCRIBED = (*REASONS, "unsubscribed")


def _among(column: str, names: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{name}'" for name in names))


def _change_check(table: str, name: str, old: str, new: str) -> None:
    """Replace `table`'s check `name`, `old`, by `new`."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(name, table, type_="check")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({new}) NOT VALID")
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        return
    stored = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table")
    definition = bind.execute(stored, {"table": table}).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"{table}'s {name} constraint is not the one this revision expects")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :table"),
        {"sql": definition.replace(old, new), "table": table},
    )
    # Tells every connection, this one included, to read the schema again.
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("withhold", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    _change_check(
        "outbox", "outbox_status", _among("status", STATUSES), _among("status", WITH_WITHHELD)
    )
    _change_check(
        "suppressions",
        "suppression_reason",
        _among("reason", REASONS),
        _among("reason", WITH_UNSUBSCRIBED),
    )
    op.execute(
        "UPDATE outbox SET withhold = true"
        " WHERE status = 'pending' AND purpose = 'no_account' AND channel = 'sms'"
    )
    # What the purge deletes withheld rows by, as it deletes sent ones by `outbox_sent_at`.
    _withheld_index()


def _withheld_index() -> None:
    """Built without blocking the writes of a running service on PostgreSQL (CONCURRENTLY,
    outside the migration's transaction)."""
    where = sa.text("status = 'withheld'")
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("outbox_withheld", "outbox", ["sent_at"], sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            "outbox_withheld",
            "outbox",
            ["sent_at"],
            postgresql_where=where,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    op.drop_index("outbox_withheld", "outbox")
    # The older code would send them: they end as their clients saw them, sent.
    op.execute(
        "UPDATE outbox SET status = 'sent', sent_at = coalesce(sent_at, created_at),"
        " secret_params = NULL, recipient_hash = NULL, locked_until = NULL, claim_token = NULL"
        " WHERE status = 'withheld' OR (status = 'pending' AND withhold)"
    )
    _change_check(
        "outbox", "outbox_status", _among("status", WITH_WITHHELD), _among("status", STATUSES)
    )
    # The older code knows no such reason: the address is still kept from every message, as
    # a complaint's is (whoever unsubscribed asked for no more).
    op.execute("UPDATE suppressions SET reason = 'complaint' WHERE reason = 'unsubscribed'")
    _change_check(
        "suppressions",
        "suppression_reason",
        _among("reason", WITH_UNSUBSCRIBED),
        _among("reason", REASONS),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE outbox DROP COLUMN withhold")
    else:
        op.drop_column("outbox", "withhold")
