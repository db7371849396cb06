"""Erasure (GDPR art. 17) and the suppressed addresses operators may release."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, or_, select, update

from shared.accounts.accounts import user_by_id
from shared.database.models import outbox, outbox_attempts, provider_events, users
from shared.messaging.events import EventType, emit
from shared.messaging.messages import Queueing
from shared.messaging.outbox import ERASED
from shared.messaging.suppressions import Suppression, listed
from shared.messaging.transitions import cancel_unsent
from shared.operations.audit import record


def list_suppressions(connection: Connection, *, limit: int = 500) -> list[Suppression]:
    """The suppressed addresses, newest first: why, from which event, since when."""
    return listed(connection, limit=limit)


def remove_suppressions(
    connection: Connection,
    deps: Queueing,
    addresses: list[str],
    *,
    actor: str,
    now: datetime,
) -> list[str]:
    """Let messages go to these addresses again; those that were suppressed. Audited by keyed
    hash, so that the audit keeps no address an erasure would have to find."""
    suppressor = deps.suppressor.of(connection)
    removed = suppressor.remove(connection, addresses)
    details = {"removed": [suppressor.hash(address) for address in removed]}
    record(connection, actor, "remove_suppressions", None, details, now)
    return removed


def erase(
    connection: Connection, deps: Queueing, user_id: int, *, actor: str, now: datetime
) -> bool:
    """Erase an account (GDPR art. 17); False if there is none.

    In one transaction: its pending messages are cancelled (a row a relay holds keeps its
    claim, so a message the provider took meanwhile still ends `sent`: outbox_relay/store.py);
    its address is scrubbed from every message, attempt and provider event (`last_error` and
    diagnostics often quote it) and from its suppression, which keeps the keyed hash and so
    still suppresses; the account, its codes and its history (shared/accounts/history.py) are
    deleted, by their foreign keys' cascade; the audit records the id only;
    `account.erased` tells the application.
    """
    user = user_by_id(connection, user_id)
    if user is None:
        return False
    addresses = [address for address in (user.email, user.phone) if address]
    theirs = or_(outbox.c.user_id == user_id, outbox.c.recipient.in_(addresses))
    ids = list(connection.execute(select(outbox.c.id).where(theirs)).scalars())
    if ids:
        cancel_unsent(connection, ids)
        connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(
                recipient=ERASED,
                recipient_hash=None,
                params={},
                secret_params=None,
                last_error=None,
                provider_message_id=None,
            )
        )
        connection.execute(
            update(outbox_attempts).where(outbox_attempts.c.outbox_id.in_(ids)).values(error=None)
        )
        connection.execute(
            update(provider_events)
            .where(provider_events.c.outbox_id.in_(ids))
            .values(diagnostic=None)
        )
    suppressor = deps.suppressor.of(connection)
    for address in addresses:
        suppressor.forget_address(connection, address)
    connection.execute(delete(users).where(users.c.id == user_id))
    record(connection, actor, "erase", str(user_id), {"messages": len(ids)}, now)
    emit(
        connection,
        deps.settings,
        deps.box,
        now=now,
        event=EventType.ACCOUNT_ERASED,
        user_id=user_id,
    )
    return True
