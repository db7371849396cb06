"""A code's link token (CODE_LINK_URL's `{token}`): `verification_tokens.link_hmac`.

A mail whose link carries `{token}` carries a long random token that stands for its code, and
only its HMAC is kept here, as the code's is. Wrong codes never kill a code that has one: the
token still works after them (SPEC "Codes": no one without the mail keeps its owner out).

Only a nullable column is added (docs/operations.md, "Expand, then contract"): the older code
never reads it, and codes written before the upgrade have none (their mails carry no token).
The downgrade drops it; the codes that had one are then codes alone.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verification_tokens") as batch:
        batch.add_column(sa.Column("link_hmac", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("verification_tokens") as batch:
        batch.drop_column("link_hmac")
