"""Retention: what `purge` deletes once it has outlived its window."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from shared.accounts.accounts import UserStatus
from shared.accounts.lockouts import WRONG_CODES
from shared.database.models import (
    account_events,
    idempotency_keys,
    outbox,
    provider_notifications,
    throttle_events,
    users,
)
from shared.messaging.outbox import Status
from shared.operations.audit import record
from shared.operations.dead_letters import DEAD_STATUSES
from shared.settings.config import DASHBOARD_SESSION_SECONDS, Settings

# The most rows one of purge's transactions deletes (with their attempts and provider events):
# a batch commits in a few milliseconds. Larger batches, each a longer stretch of a core, slow
# the registrations beside them; small ones spread the same work thin: what they still move, a
# process using as much CPU and no database moves as much
# (docs/decisions/0025-the-purge-in-small-resting-batches.md).
PURGE_BATCH = 100
# After each full batch the purge rests this many times as long as the batch took: it takes at
# most a fifth of the database's time from the registrations and claims beside it, and still
# deletes a busy day's messages long before the next purge
# (docs/decisions/0025-the-purge-in-small-resting-batches.md).
PURGE_REST = 4.0
# Rests `seconds` between two batches; False if the purge should stop now (the relay stopping).
Rest = Callable[[float], bool]
_SENT = (Status.SENT, Status.WITHHELD)


def _sleep(seconds: float) -> bool:
    """Rest by sleeping; never stops."""
    time.sleep(seconds)
    return True


@dataclass(frozen=True)
class Purged:
    """How many rows a purge removed, by kind."""

    sent: int
    dead: int
    cancelled: int
    unactivated_accounts: int
    throttle_events: int
    idempotency_keys: int
    provider_notifications: int
    account_events: int


def purge(
    connection: Connection,
    settings: Settings,
    *,
    actor: str,
    now: datetime,
    batch: int = PURGE_BATCH,
    rest: Rest = _sleep,
) -> Purged:
    """Delete what has outlived its retention window; attempts go with their messages.

    A batch of at most `batch` rows at a time, each committed on `connection` (which must not
    be in a transaction its caller controls): no lock is held for long, and none on a row
    another transaction holds (SKIP LOCKED), so registrations and claims never wait for a
    purge, and a purge stopped halfway keeps what it deleted. Each batch reads an index of its
    rows by age, oldest first, from where the last ended; after each full one it rests
    (PURGE_REST), or stops if `rest` says so."""
    day_ago = now - timedelta(days=1)
    sent_before = now - timedelta(days=settings.retention_sent_days)
    dead_before = now - timedelta(days=settings.retention_dead_days)
    accounts_before = now - timedelta(days=settings.retention_unactivated_days)
    history_before = now - timedelta(days=settings.account_events_retention_days)
    # Throttle windows are a day at most (an account's wrong codes); codes' tries last as long
    # as the longest code.
    events_before = now - timedelta(
        seconds=max(
            DASHBOARD_SESSION_SECONDS,
            WRONG_CODES.seconds,
            settings.activation_ttl,
            settings.reset_ttl,
        )
    )

    paced = _Paced(connection, batch, rest)

    def messages(status: str, age: Any, before: datetime) -> int:
        return paced.remove(outbox, age, before, outbox.c.status == status)

    purged = Purged(
        sent=sum(messages(status, outbox.c.sent_at, sent_before) for status in _SENT),
        dead=sum(messages(status, outbox.c.created_at, dead_before) for status in DEAD_STATUSES),
        cancelled=messages(Status.CANCELLED, outbox.c.created_at, dead_before),
        unactivated_accounts=paced.remove_unactivated(accounts_before),
        throttle_events=paced.remove(throttle_events, throttle_events.c.at, events_before),
        idempotency_keys=paced.remove(idempotency_keys, idempotency_keys.c.created_at, day_ago),
        # SNS retries a notification for an hour at most.
        provider_notifications=paced.remove(
            provider_notifications, provider_notifications.c.received_at, day_ago
        ),
        account_events=paced.remove(account_events, account_events.c.at, history_before),
    )
    record(connection, actor, "purge", None, asdict(purged), now)
    connection.commit()
    return purged


class _Paced:
    """A purge's batches: each committed, a rest after each full one, none after a stop."""

    def __init__(self, connection: Connection, batch: int, rest: Rest) -> None:
        self._connection = connection
        self._batch = batch
        self._rest = rest
        self._stopped = False

    def run(self, step: Callable[[], int]) -> int:
        """Run `step` (a batch: how many rows it deleted) until one deletes less than a full
        batch, or a rest says stop; how many rows in all."""
        total = 0
        while not self._stopped:
            started = time.monotonic()
            deleted = step()
            self._connection.commit()
            total += deleted
            if deleted < self._batch:
                break
            self._stopped = not self._rest(PURGE_REST * (time.monotonic() - started))
        return total

    def remove(self, table: Any, age: Any, before: datetime, *where: ColumnElement[bool]) -> int:
        """Delete `table`'s rows older than `before` (as `age` says) and `where`, in batches."""
        # Ordered by age, so that the planner reads the index by age: unordered, a small
        # LIMIT lets it scan the table from the start instead, over every row the batches
        # before deleted and vacuum has not yet removed, each batch slower than the last.
        key = tuple_(*table.primary_key.columns)
        reached = _Reached(age)

        def one() -> int:
            chosen = select(*table.primary_key.columns).where(
                *where, *reached.since(), age < before
            )
            chosen = chosen.order_by(age).limit(self._batch).with_for_update(skip_locked=True)
            statement = delete(table).where(key.in_(chosen)).returning(age)
            return reached.after(self._connection.execute(statement).scalars().all())

        return self.run(one)

    def remove_unactivated(self, created_before: datetime) -> int:
        """Delete accounts never activated, with their messages, in batches, so their
        addresses are free; how many."""
        reached = _Reached(users.c.created_at)

        def one() -> int:
            stale = (
                select(users.c.id, users.c.created_at)
                .where(
                    users.c.status == UserStatus.PENDING,
                    *reached.since(),
                    users.c.created_at < created_before,
                )
                .order_by(users.c.created_at)
                .limit(self._batch)
                .with_for_update(skip_locked=True)
            )
            rows = self._connection.execute(stale).all()
            ids = [row.id for row in rows]
            self._connection.execute(delete(outbox).where(outbox.c.user_id.in_(ids)))
            self._connection.execute(delete(users).where(users.c.id.in_(ids)))
            return reached.after([row.created_at for row in rows])

        return self.run(one)


class _Reached:
    """How old the rows a purge's last batch deleted were, so that the next reads the index by
    age from there.

    Why: deleted rows stay in the index until vacuum removes them, and a batch reading from the
    oldest end walked over all the batches before had deleted, so that the purge slowed as it
    went (docs/decisions/0025-the-purge-in-small-resting-batches.md). A row passed over as
    locked (SKIP LOCKED) and older than the point reached waits for the next purge."""

    def __init__(self, age: Any) -> None:
        self._age = age
        self._oldest: datetime | None = None

    def since(self) -> list[ColumnElement[bool]]:
        """The condition that starts a batch where the last ended (none before the first)."""
        return [] if self._oldest is None else [self._age >= self._oldest]

    def after(self, ages: Sequence[datetime]) -> int:
        """Note the ages of a batch's rows; how many there were."""
        if ages:
            self._oldest = max(ages)
        return len(ages)
