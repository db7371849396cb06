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

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations import tallies

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The messages the tallies count by minute from this revision on.
MINUTES = {**tallies.SENT, "dead": "dead_at"}
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
    for statement in [
        *tallies.drop_triggers(dialect),
        *tallies.create_triggers(dialect, MINUTES),
        *tallies.seed_minutes(dialect, {"dead": "dead_at"}),
    ]:
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
        *tallies.drop_triggers(dialect),
        *tallies.create_triggers(dialect, tallies.SENT),
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
