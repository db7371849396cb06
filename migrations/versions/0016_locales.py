"""Any language TEMPLATES_DIR adds: `users.locale` and `outbox.locale` hold a BCP 47 tag of up
to 35 characters (RFC 5646's advice), not 5. On PostgreSQL widening a varchar rewrites nothing;
SQLite does not hold a text column to its length.

The downgrade writes `en` for any locale the older code does not know (it offers en and fr
only, and would refuse to render the rest).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("users", "outbox")
# The view as revision 0008 made it, which PostgreSQL will not keep over a column whose type
# changes: dropped and made again, the same.
DEAD_LETTERS = """
    CREATE VIEW outbox_dead_letters AS
    SELECT id, public_id, created_at, channel, purpose, recipient, locale, user_id, status,
           attempts, dead_reason, last_error, resolution, resolved_at, replaced_by,
           (SELECT max(a.attempted_at) FROM outbox_attempts a
             WHERE a.outbox_id = outbox.id) AS last_attempt_at
      FROM outbox
     WHERE status IN ('dead', 'bounced')
"""


def _locale_length(length: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP VIEW outbox_dead_letters")
    for table in TABLES:
        op.alter_column(table, "locale", type_=sa.String(length), existing_nullable=False)
    op.execute(DEAD_LETTERS)


def upgrade() -> None:
    _locale_length(35)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"UPDATE {table} SET locale = 'en' WHERE locale NOT IN ('en', 'fr')")
    _locale_length(5)
