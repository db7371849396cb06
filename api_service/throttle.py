"""Sliding-window limits kept in the database, so they hold across gunicorn workers.

One mechanism serves every limit: messages per recipient and purpose, POSTs per client IP and
code failures per account. Each event is a row keyed by an HMAC of its subject, so the table
holds no address or IP in clear.
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

from sqlalchemy import Connection, Select, bindparam, delete, insert, select, text

from shared.codes import derive_key
from shared.models import throttle_events

# Statements built once; a request binds values to them.
_LOCK = text("SELECT pg_advisory_xact_lock(:id)")
_RECORD = insert(throttle_events)
_CLEAR = delete(throttle_events).where(throttle_events.c.key.in_(bindparam("keys", expanding=True)))


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
    ) -> int:
        """Record one event for each subject, or none and the seconds to wait if a limit is hit."""
        keys = self._lock(connection, subjects)
        wait = self._wait(connection, keys, limits, now)
        if wait == 0:
            self._record(connection, keys, now)
        return wait

    def wait(
        self,
        connection: Connection,
        subjects: Iterable[str],
        limits: Sequence[Limit],
        now: datetime,
    ) -> int:
        """Seconds until every subject is under its limits again; 0 when it is now."""
        return self._wait(connection, self._lock(connection, subjects), limits, now)

    def record(self, connection: Connection, subjects: Iterable[str], now: datetime) -> None:
        """Count one event for each subject, whatever the limits say."""
        self._record(connection, self._lock(connection, subjects), now)

    def clear(self, connection: Connection, subjects: Iterable[str]) -> None:
        """Forget every event of these subjects.

        Without the lock: an event counted at the same moment by another request may survive
        or not, which no limit can tell apart from a moment's difference in timing.
        """
        keys = [self._digest(subject) for subject in subjects]
        if keys:
            connection.execute(_CLEAR, {"keys": keys})

    def _lock(self, connection: Connection, subjects: Iterable[str]) -> list[str]:
        """The keys of the subjects, each locked until the transaction ends.

        SQLite needs no lock: every transaction there holds the write lock from its start.
        """
        keys = sorted({self._digest(subject) for subject in subjects})
        if connection.dialect.name == "postgresql":
            for key in keys:
                lock_id = int.from_bytes(bytes.fromhex(key)[:8], "big", signed=True)
                connection.execute(_LOCK, {"id": lock_id})
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
        bounds: dict[str, object] = {}
        for n, limit in enumerate(limits):
            bounds[f"since{n}"] = now - timedelta(seconds=limit.seconds)
            bounds[f"skip{n}"] = limit.count - 1
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
