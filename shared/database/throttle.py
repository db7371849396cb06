"""Sliding-window limits kept in the database, so they hold across gunicorn workers.

One mechanism serves every limit: messages per recipient and purpose, SMS per region, POSTs
per client IP and code failures per account. Each event is a row keyed by an HMAC of its
subject, so the table holds no address or IP in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Insert,
    Select,
    Update,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
)

from shared.database.driver import DriverStatement
from shared.database.models import throttle_events
from shared.secrets.codes import derive_key
from shared.vocabulary import Purpose

# Statements built once; a request binds values to them.
_LOCK = DriverStatement(text("SELECT pg_advisory_xact_lock(:id)"))
# The same, and the transaction's commit does not wait for the disk: one round trip for both.
_LOCK_NOT_DURABLE = DriverStatement(
    text("SELECT pg_advisory_xact_lock(:id), set_config('synchronous_commit', 'off', true)")
)
_RECORD = insert(throttle_events)
_CLEAR = delete(throttle_events).where(throttle_events.c.key.in_(bindparam("keys", expanding=True)))


def code_tries(purpose: Purpose, addresses: Iterable[str]) -> list[str]:
    """The subjects counting wrong codes sent for `purpose` with these addresses."""
    return [f"code-tries:{purpose}:{address}" for address in addresses]


def sms_region(region: str) -> str:
    """The subject counting the SMS queued to numbers of `region` (SMS_REGION_HOURLY_LIMIT)."""
    return f"sms-region:{region}"


@dataclass(frozen=True)
class Along:
    """Writes of the caller's, each built once, and their values: sent with a take's lock.

    Their bound names differ (an insert's may take a prefix: shared.database.driver.bound), so that
    one statement can carry them all.
    """

    writes: tuple[Update | Insert, ...]
    values: dict[str, Any]

    def then(self, other: Along) -> Along:
        """These writes, then `other`'s."""
        return Along((*self.writes, *other.writes), {**self.values, **other.values})

    def run(self, connection: Connection) -> None:
        """Run each write on its own, each with the values it binds."""
        for write in self.writes:
            names = _bound_names(write)
            connection.execute(write, {k: v for k, v in self.values.items() if k in names})


@cache
def _bound_names(write: Update | Insert) -> frozenset[str]:
    """The names a write binds, read once (its compiled form's parameters)."""
    return frozenset(write.compile().params)


@dataclass(frozen=True)
class Limit:
    """At most `count` events in any `seconds` long window."""

    count: int
    seconds: int


class Throttle:
    """Limits on subjects, checked and recorded inside the caller's transaction."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "outpost/throttle")

    def take(
        self,
        connection: Connection,
        subjects: Iterable[str],
        limits: Sequence[Limit],
        now: datetime,
        *,
        durable: bool = True,
        forget: Iterable[str] = (),
        along: Along | None = None,
    ) -> int:
        """Record one event for each subject, or none and the seconds to wait if a limit is hit.

        Once the events are recorded, every event of the `forget` subjects goes: on
        PostgreSQL in the same statement, a round trip less. `durable=False` lets the commit
        return before the events reach the disk, for counters whose loss in a crash costs
        nothing. `along`, an update of the caller's that the limits do not read, runs first
        whatever they say: on PostgreSQL in the lock's statement, a round trip less.
        """
        keys = self._lock(connection, subjects, durable=durable, along=along)
        if not keys:
            return 0
        forgotten = sorted({self._digest(subject) for subject in forget})
        together = bool(forgotten) and connection.dialect.name == "postgresql"
        values: dict[str, object] = {"now": now, **_bounds(limits, now)}
        values.update({f"key{k}": key for k, key in enumerate(keys)})
        if together:
            values["forgotten"] = forgotten
        statement = _record_unless_limited(len(keys), len(limits), together)
        if statement.run(connection, values) != len(keys):
            return self._wait(connection, keys, limits, now)
        if forgotten and not together:
            connection.execute(_CLEAR, {"keys": forgotten})
        return 0

    def wait(
        self,
        connection: Connection,
        subjects: Iterable[str],
        limits: Sequence[Limit],
        now: datetime,
    ) -> int:
        """Seconds until every subject is under its limits again; 0 when it is now."""
        return self._wait(connection, self._lock(connection, subjects), limits, now)

    def forget(self, connection: Connection, subjects: Iterable[str]) -> None:
        """Drop every event of the subjects: their counts start again."""
        keys = sorted({self._digest(subject) for subject in subjects})
        if keys:
            connection.execute(_CLEAR, {"keys": keys})

    def record(self, connection: Connection, subjects: Iterable[str], now: datetime) -> None:
        """Count one event for each subject, whatever the limits say."""
        self._record(connection, self._lock(connection, subjects), now)

    def _lock(
        self,
        connection: Connection,
        subjects: Iterable[str],
        *,
        durable: bool = True,
        along: Along | None = None,
    ) -> list[str]:
        """The keys of the subjects, each locked until the transaction ends; `along` run first.

        SQLite needs no lock: every transaction there holds the write lock from its start.
        """
        keys = sorted({self._digest(subject) for subject in subjects})
        if connection.dialect.name != "postgresql" or not keys:
            if along is not None:
                along.run(connection)
            return keys
        for n, key in enumerate(keys):
            lock_id = int.from_bytes(bytes.fromhex(key)[:8], "big", signed=True)
            # The first lock also tells the commit not to wait for the disk, if asked, and
            # carries the caller's update.
            if n:
                _LOCK.run(connection, {"id": lock_id})
            elif along is None:
                (_LOCK if durable else _LOCK_NOT_DURABLE).run(connection, {"id": lock_id})
            else:
                lock = _lock_along(along.writes, durable)
                lock.run(connection, {**along.values, "along_lock_id": lock_id})
        return keys

    def _digest(self, subject: str) -> str:
        return hmac.new(self._key, subject.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _wait(
        connection: Connection, keys: list[str], limits: Sequence[Limit], now: datetime
    ) -> int:
        # For each limit, the database returns the event that fills it (the count-th newest
        # inside its window), so a request reads one row per limit however many events a
        # generous limit lets through.
        query = _filling_events(len(limits))
        bounds = _bounds(limits, now)
        wait = 0.0
        for key in keys:
            filling = connection.execute(query, {"key": key, **bounds}).one()
            for limit, at in zip(limits, filling, strict=True):
                if at is not None:
                    free_at = at + timedelta(seconds=limit.seconds)
                    wait = max(wait, (free_at - now).total_seconds())
        return math.ceil(wait)

    @staticmethod
    def _record(connection: Connection, keys: list[str], now: datetime) -> None:
        # Events past every window are left to the daily purge: reads never scan them (the
        # index is on key and time), and deleting here would cost a statement per request.
        if keys:
            connection.execute(_RECORD, [{"key": key, "at": now} for key in keys])


def _bounds(limits: Sequence[Limit], now: datetime) -> dict[str, object]:
    """The values of :sinceN and :skipN for the statements below."""
    bounds: dict[str, object] = {}
    for n, limit in enumerate(limits):
        bounds[f"since{n}"] = now - timedelta(seconds=limit.seconds)
        bounds[f"skip{n}"] = limit.count - 1
    return bounds


@cache
def _record_unless_limited(keys: int, limits: int, forget: bool) -> DriverStatement:
    """Insert an event at :now for each of :key0… unless one of them has hit a limit; with
    `forget`, delete the events of the keys in the array :forgotten in the same case
    (PostgreSQL only).

    Checking and recording in one statement spares a round trip per request; the lock taken
    before keeps two requests from both slipping under a limit.
    """
    at = throttle_events.c.at
    limited = or_(
        *(
            select(throttle_events.c.id)
            .where(throttle_events.c.key == bindparam(f"key{k}"), at > bindparam(f"since{n}"))
            .offset(bindparam(f"skip{n}"))
            .limit(1)
            .exists()
            for k in range(keys)
            for n in range(limits)
        )
    )
    now = bindparam("now", type_=at.type)
    rows = [
        select(bindparam(f"key{k}", type_=throttle_events.c.key.type), now).where(~limited)
        for k in range(keys)
    ]
    statement = insert(throttle_events).from_select(
        ["key", "at"], rows[0] if keys == 1 else union_all(*rows)
    )
    if forget:
        # An array, not an expanded list: the statement's SQL stays the same for any number.
        forgotten = throttle_events.c.key == any_(
            bindparam("forgotten", type_=ARRAY(throttle_events.c.key.type))
        )
        # Both parts see the same snapshot: the events deleted are not the ones counted.
        deleting = delete(throttle_events).where(forgotten, ~limited)
        statement = statement.add_cte(deleting.cte("forgotten"))
    return DriverStatement(statement)


@cache
def _lock_along(writes: tuple[Update | Insert, ...], durable: bool) -> DriverStatement:
    """The first lock's statement (see _LOCK and _LOCK_NOT_DURABLE) with each of `writes` in
    a CTE: PostgreSQL runs a data-modifying CTE whether or not the query reads it. The lock's
    value has a name no column has: an update sets every column its values name."""
    lock = [func.pg_advisory_xact_lock(bindparam("along_lock_id"))]
    if not durable:
        lock.append(func.set_config("synchronous_commit", "off", True))
    ctes = [write.cte(f"along{n}") for n, write in enumerate(writes)]
    return DriverStatement(select(*lock).add_cte(*ctes))


@cache
def _filling_events(limits: int) -> Select[Any]:
    """For each of `limits` limits, the time of the event that fills it for :key, if any.

    That event is the skip-th newest after since; built once per number of limits, so a
    request only binds values to it.
    """
    at = throttle_events.c.at
    return select(
        *(
            select(at)
            .where(throttle_events.c.key == bindparam("key"), at > bindparam(f"since{n}"))
            .order_by(at.desc())
            .offset(bindparam(f"skip{n}"))
            .limit(1)
            .scalar_subquery()
            for n in range(limits)
        )
    )
