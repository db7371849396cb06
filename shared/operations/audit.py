"""The operators' audit: every operation records itself in `operator_actions`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from shared.database.models import operator_actions


@dataclass(frozen=True)
class AuditEntry:
    """One operator action: who did what to which target, when, with what result."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any] | None


def audit_log(connection: Connection, *, limit: int = 100) -> list[AuditEntry]:
    """The newest operator actions first."""
    return [
        AuditEntry(**r._mapping)
        for r in connection.execute(
            select(operator_actions).order_by(operator_actions.c.id.desc()).limit(limit)
        )
    ]


def record(
    connection: Connection,
    actor: str,
    action: str,
    target: str | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Write one operator action in the caller's transaction."""
    record_all(connection, actor, action, [(target, details)], now)


def record_all(
    connection: Connection,
    actor: str,
    action: str,
    done: Sequence[tuple[str | None, dict[str, Any]]],
    now: datetime,
) -> None:
    """Write one operator action per (target, details), in one statement of the caller's
    transaction (a bulk retry's thousand lines in one round trip)."""
    if done:
        connection.execute(
            insert(operator_actions),
            [
                {"at": now, "actor": actor[:200], "action": action, "target": t, "details": d}
                for t, d in done
            ],
        )
