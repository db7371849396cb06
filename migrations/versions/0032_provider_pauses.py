"""`provider_pauses`: the providers paused now, by an operator or by a relay, shared by relays.

An operator's pause (`outbox-relay providers pause`) is kept here, with its reason and its end,
for every relay on the database to obey; a relay records here its own pauses (the provider's
failure) so that operators see why a provider is where it is, and `told_at` says when the
application was told `provider.down`, so that one relay among many tells it, once.

Only a table is added (docs/operations.md, "Expand, then contract"): the older code never reads
it. The downgrade drops it: the operators' pauses end, and relays judge alone again.

Revision ID: 0032
Revises: 0028
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_pauses",
        sa.Column("provider", sa.String(20), primary_key=True),
        sa.Column("paused_by", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("told_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("provider_pauses")
