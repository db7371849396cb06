"""Withheld notices and unsubscribing: a row the relay ends `withheld` instead of sending it (a
number that never signed up gets no SMS; a "no account" mail past its budget is not sent), the
rule applied to what is queued (pending "no account" SMS are withheld from now on), and the
suppression reason `unsubscribed` (RFC 8058 one-click, from a "no account" mail).

On SQLite the constraints are changed in place, in the table's stored definition, as
revision 0013 changed the purposes' (a rebuilt table would take every attempt with it). On
PostgreSQL the new constraint is added NOT VALID and then validated, which reads the table
without blocking the writes of a running service; the column, with a constant default, is
added without rewriting the table. The index is built first, CONCURRENTLY, outside the
transaction that holds the rest with the version: a run stopped anywhere leaves 0013 and, at
most, the index, which the next run keeps or builds again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.checks import among, change_check

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
STATUSES = ("pending", "sent", "dead", "cancelled", "bounced")
WITH_WITHHELD = (*STATUSES, "withheld")
REASONS = ("hard_bounce", "complaint", "rejected")
WITH_UNSUBSCRIBED = (*REASONS, "unsubscribed")


def upgrade() -> None:
    # What the purge deletes withheld rows by, as it deletes sent ones by `outbox_sent_at`.
    _withheld_index()
    postgresql = op.get_bind().dialect.name == "postgresql"
    # A release before 2026-11-28 committed the column (and the CHECKs, and the update) before
    # the index, without the version: its run stopped there is finished by this one.
    op.add_column(
        "outbox",
        sa.Column("withhold", sa.Boolean(), nullable=False, server_default=sa.false()),
        if_not_exists=postgresql,
    )
    change_check(
        "outbox", "outbox_status", among("status", STATUSES), among("status", WITH_WITHHELD)
    )
    change_check(
        "suppressions",
        "suppression_reason",
        among("reason", REASONS),
        among("reason", WITH_UNSUBSCRIBED),
    )
    op.execute(
        "UPDATE outbox SET withhold = true"
        " WHERE status = 'pending' AND purpose = 'no_account' AND channel = 'sms'"
    )


def _withheld_index() -> None:
    """Built without blocking the writes of a running service on PostgreSQL: CONCURRENTLY,
    outside the migration's transaction, so first, and written to be run again. A build that
    was stopped (a killed `migrate`, a timeout) leaves the index INVALID: dropped and built
    again; one built whole is kept."""
    where = sa.text("status = 'withheld'")
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("outbox_withheld", "outbox", ["sent_at"], sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().execute(
            sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": "outbox_withheld"},
        )
        if invalid.scalar():
            op.drop_index("outbox_withheld", "outbox", postgresql_concurrently=True)
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
    change_check(
        "outbox", "outbox_status", among("status", WITH_WITHHELD), among("status", STATUSES)
    )
    # The older code knows no such reason: the address is still kept from every message, as
    # a complaint's is (whoever unsubscribed asked for no more).
    op.execute("UPDATE suppressions SET reason = 'complaint' WHERE reason = 'unsubscribed'")
    change_check(
        "suppressions",
        "suppression_reason",
        among("reason", WITH_UNSUBSCRIBED),
        among("reason", REASONS),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE outbox DROP COLUMN withhold")
    else:
        op.drop_column("outbox", "withhold")
