"""Rows written as the first revisions' schema has them (the outbox of 0001 to 0005), for tests
that upgrade a populated database from there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from shared.clock import utcnow
from shared.database.columns import UtcDateTime

# The outbox as revision 0005 left it (and 0001 made it): no priority column.
OUTBOX_0005 = sa.table(
    "outbox",
    sa.column("public_id", sa.String),
    sa.column("created_at", UtcDateTime()),
    sa.column("channel", sa.String),
    sa.column("purpose", sa.String),
    sa.column("recipient", sa.String),
    sa.column("locale", sa.String),
    sa.column("template", sa.String),
    sa.column("params", sa.JSON),
    sa.column("secret_params", sa.Text),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", UtcDateTime()),
    sa.column("expires_at", UtcDateTime()),
    sa.column("dead_reason", sa.String),
    sa.column("last_error", sa.String),
)


def early_row(public_id: str, purpose: str, status: str, **more: Any) -> dict[str, Any]:
    """An email to `public_id`@example.com written an hour ago, with `more` columns set."""
    written = utcnow() - timedelta(hours=1)
    return {
        "public_id": public_id,
        "created_at": written,
        "channel": "email",
        "purpose": purpose,
        "recipient": f"{public_id}@example.com",
        "locale": "en",
        "template": purpose,
        "params": {"full_name": None, "expires_minutes": 60},
        "status": status,
        "attempts": 0,
        "next_attempt_at": written,
        "expires_at": None,
        "dead_reason": None,
        "last_error": None,
        "secret_params": None,
        **more,
    }
