"""The application's webhook endpoints by event, and the event `delivery.sent`.

`webhook_endpoints` holds each endpoint an operator added beside `WEBHOOK_URL`: its URL, the
events it subscribes to, and its URL and Standard Webhooks secret sealed under SECRET_KEY
(shared/messaging/webhook_endpoints.py). A new table, so the previous release runs on the new schema
without reading it. The purpose `delivery.sent` (a provider took a message, for the endpoints
that subscribe to it) widens the outbox's CHECK, as revision 0027 does.

The downgrade drops the table and deletes, with their attempts, the events of the new purpose
and those queued for an endpoint: the older code would send them to WEBHOOK_URL.

Revision ID: 0030
Revises: 0028
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.checks import among, change_check

revision = "0030"
down_revision = "0028"
branch_labels = None
depends_on = None

# The outbox's purposes at revision 0028, written out: a migration must not change when the
# code does.
PURPOSES = (
    "activation",
    "password_reset",
    "password_changed",
    "welcome",
    "account_exists",
    "no_account",
    "account.registered",
    "account.activated",
    "account.password_changed",
    "account.erased",
    "delivery.failed",
    "address_change",
    "address_changed",
    "account.address_changed",
    "login_code",
    "delivery.delivered",
    "account.address_removed",
)
NEW = "delivery.sent"
# The events queued for an endpoint rather than WEBHOOK_URL (whose rows' recipient is
# `webhook`), and those of the new purpose.
_GONE = (
    "SELECT id FROM outbox WHERE channel = 'webhook'"
    f" AND (recipient <> 'webhook' OR purpose = '{NEW}')"
)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("public_id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
    )
    change_check(
        "outbox", "outbox_purpose", among("purpose", PURPOSES), among("purpose", (*PURPOSES, NEW))
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM outbox_attempts WHERE outbox_id IN ({_GONE})")
    op.execute(f"DELETE FROM outbox WHERE id IN ({_GONE})")
    change_check(
        "outbox", "outbox_purpose", among("purpose", (*PURPOSES, NEW)), among("purpose", PURPOSES)
    )
    op.drop_table("webhook_endpoints")
