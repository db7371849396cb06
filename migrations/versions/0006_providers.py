"""Real providers: claim priority, a horizon for every message, provider-down attempts, rate slots.

- `outbox.priority`: 0 for rows that carry a code, 1 for the rest; the due-rows index leads
  with it, so a backlog of notices never holds a code back.
- Pending notices get their retry horizon: `expires_at` = written + NOTICE_TTL (as read from
  the environment at upgrade, default 86400 s), as new ones do.
- `outbox_attempts.outcome` may be `provider_down`: a try the provider's failure stopped.
- `provider_slots`: when each provider may next be handed a message (SMTP_RATE), shared by
  every relay on the database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
CODED = ("activation", "password_reset")
DEFAULT_NOTICE_TTL = 86400

DEAD_LETTERS = """
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id,
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status = 'dead'
"""

OUTCOMES = ("sent", "transient", "permanent", "expired")


def _outcomes(names: tuple[str, ...]) -> str:
    return "outcome IN ({})".format(", ".join(f"'{name}'" for name in names))


def _notice_ttl() -> int:
    raw = os.environ.get("NOTICE_TTL") or str(DEFAULT_NOTICE_TTL)
    try:
        ttl = int(raw)
    except ValueError:
        return DEFAULT_NOTICE_TTL
    return ttl if ttl > 0 else DEFAULT_NOTICE_TTL


def upgrade() -> None:
    op.execute("DROP VIEW outbox_dead_letters")
    op.add_column(
        "outbox", sa.Column("priority", sa.SmallInteger, nullable=False, server_default="1")
    )
    op.execute(
        sa.text("UPDATE outbox SET priority = 0 WHERE purpose IN :coded").bindparams(
            sa.bindparam("coded", CODED, expanding=True)
        )
    )
    op.drop_index("outbox_due", "outbox")
    # Claiming reads only this index, in order: codes first, then by due time.
    op.create_index(
        "outbox_due",
        "outbox",
        ["priority", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    _give_notices_a_horizon()
    with op.batch_alter_table("outbox_attempts") as batch:
        batch.drop_constraint("outbox_attempts_outcome", type_="check")
        batch.create_check_constraint(
            "outbox_attempts_outcome", _outcomes((*OUTCOMES, "provider_down"))
        )
    op.execute(DEAD_LETTERS)
    op.create_table(
        "provider_slots",
        sa.Column("provider", sa.String(20), primary_key=True),
        # Seconds since the epoch at which the provider may next be handed a message.
        sa.Column("next_at", sa.Float, nullable=False),
    )


def _give_notices_a_horizon() -> None:
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.BigInteger),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("status", sa.String),
    )
    bind = op.get_bind()
    ttl = timedelta(seconds=_notice_ttl())
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.created_at).where(
            outbox.c.status == "pending", outbox.c.expires_at.is_(None)
        )
    ).all()
    sqlite = bind.dialect.name == "sqlite"
    for row_id, created_at in rows:
        written = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        horizon: datetime = written + ttl
        if (
            sqlite
        ):  # the application stores naive UTC text there (shared.database.columns.UtcDateTime)
            horizon = horizon.astimezone(UTC).replace(tzinfo=None)
        bind.execute(sa.update(outbox).where(outbox.c.id == row_id).values(expires_at=horizon))


def downgrade() -> None:
    op.drop_table("provider_slots")
    op.execute("DROP VIEW outbox_dead_letters")
    op.execute("UPDATE outbox_attempts SET outcome = 'transient' WHERE outcome = 'provider_down'")
    with op.batch_alter_table("outbox_attempts") as batch:
        batch.drop_constraint("outbox_attempts_outcome", type_="check")
        batch.create_check_constraint("outbox_attempts_outcome", _outcomes(OUTCOMES))
    op.drop_index("outbox_due", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("priority")
    op.create_index(
        "outbox_due",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.execute(DEAD_LETTERS)
