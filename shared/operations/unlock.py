"""Lifting an account's lockouts (shared/accounts/lockouts.py): an operator who has checked the
person another way lets them sign in and type codes again at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.accounts.accounts import user_by_id
from shared.accounts.history import AccountEvent
from shared.accounts.history import record as record_event
from shared.accounts.lockouts import locks_of
from shared.messaging.messages import Queueing
from shared.operations.audit import record


def unlock(
    connection: Connection, deps: Queueing, user_id: int, *, actor: str, now: datetime
) -> bool:
    """Forget every failure counted against the account (failed sign-ins naming its addresses,
    its wrong codes, the tries at its codes); False if there is none. Audited, and in the
    account's history."""
    user = user_by_id(connection, user_id)
    if user is None:
        return False
    deps.throttle.forget(connection, locks_of(user))
    record(connection, actor, "unlock", str(user_id), {}, now)
    record_event(connection, user_id, AccountEvent.UNLOCKED, now=now, detail={"by": actor})
    return True
