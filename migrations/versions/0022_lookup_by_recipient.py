"""Support's lookup of an address reads its messages newest first through an index.

`outbox_recipient_id` holds each message by its address and id, so that
`GET /v1/admin/messages?recipient=` (shared/operations/lookup.py `messages_to`) walks the
address's rows back from the newest until it has a page: as flat as the outbox grows, however
many messages the address has. `outbox_recipient_purpose` (revision 0001) orders an address's
rows by purpose first, so a page of them all would sort every one.

Only an index is added (docs/operations.md, "Expand, then contract"). Writes wait while it is
built: it reads the whole outbox once (bench/README.md).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("outbox_recipient_id", "outbox", ["recipient", "id"])


def downgrade() -> None:
    op.drop_index("outbox_recipient_id", "outbox")
