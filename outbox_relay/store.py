"""The relay's SQL: claim due rows under a lease, then mark or release them, fenced by token."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Update,
    bindparam,
    event,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from shared.models import outbox, outbox_attempts
from shared.outbox import RELEASED, WIPED, Status

T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    """A row this relay holds until `locked_until`, under `claim_token`."""

    id: int
    public_id: str
    channel: str
    purpose: str
    recipient: str
    locale: str
    template: str
    params: dict[str, Any]
    secret_params: str | None
    attempts: int
    expires_at: datetime | None
    locked_until: datetime
    claim_token: str
    user_id: int | None


_CLAIMED_COLUMNS = list(Claimed.__dataclass_fields__)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, as `outbox_attempts` records it."""

    outcome: str
    at: datetime
    duration_ms: int
    error: str | None = None


def prepare(engine: Engine, *, transaction_pooler: bool = False) -> None:
    """Set up the relay's PostgreSQL connections for `claim`, as each one opens.

    A claim must walk the index of due rows in order: it then stops after `limit` live rows,
    and marks the dead entries it passes (left by rows already sent) so that later claims skip
    them. With stale statistics (no autovacuum, or a burst since it last ran) the planner may
    pick a bitmap scan instead, which reads every due row and every dead entry, then sorts, on
    every claim: after 100,000 sends without VACUUM, 5 ms a claim instead of 0.1.

    Behind a transaction pooler a session setting would land on whichever server connection
    the pooler lends, other clients' included: the Claimer sets it for its own transaction.
    """
    if engine.dialect.name == "postgresql" and not transaction_pooler:
        event.listen(engine, "connect", _walk_indexes_in_order)


_WALK_INDEXES_IN_ORDER_HERE = text("SET LOCAL enable_bitmapscan = off")


def _walk_indexes_in_order(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET enable_bitmapscan = off")
    dbapi_connection.commit()


class Claimer:
    """Claims due rows for one relay over a connection of its own, kept from claim to claim.

    A claim is one statement, atomic by itself, so on PostgreSQL that connection runs in
    autocommit: a relay woken for each new message claims once a message, and then pays no
    BEGIN or COMMIT round trip and no pool checkout for it (0.7 → 0.4 ms of CPU a claim, in
    process). SQLite keeps its transaction, which takes the write lock up front (shared.db).
    One thread claims at a time. Behind a transaction pooler, a claim is a transaction of its
    own that first sets, for itself only, what `prepare` sets for a whole session.
    """

    def __init__(self, engine: Engine, *, transaction_pooler: bool = False) -> None:
        self._engine = engine
        self._autocommit = engine.dialect.name == "postgresql" and not transaction_pooler
        self._set_local = engine.dialect.name == "postgresql" and transaction_pooler
        self._connection: Connection | None = None

    def claim(
        self, *, now: datetime, limit: int, lease_seconds: int, paused: Sequence[str] = ()
    ) -> list[Claimed]:
        """Lease up to `limit` due rows to a new claim token; other relays skip them meanwhile.

        Rows that carry a code come first. A claimed row's `next_attempt_at` moves to the end
        of its lease, so the one due-rows index serves both "never tried" and "lease lapsed":
        a crashed relay's rows come back by themselves. Rows of the `paused` channels (no
        provider up) stay where they are, due, unless their horizon has passed: those are
        claimed to be marked expired.
        """
        values = {
            "now": now,
            "limit": limit,
            "until": now + timedelta(seconds=lease_seconds),
            "token": uuid.uuid4().hex,
            "paused": list(paused),
        }

        def leased(connection: Connection) -> Sequence[Any]:
            if self._set_local:
                connection.execute(_WALK_INDEXES_IN_ORDER_HERE)
            return connection.execute(_CLAIM, values).all()

        rows = self._on_connection(leased)
        return sorted((Claimed(**row._mapping) for row in rows), key=lambda claimed: claimed.id)

    def read(self, query: Callable[[Connection], T]) -> T:
        """Run a read on the claims' connection: no pool checkout, no BEGIN on PostgreSQL."""
        return self._on_connection(query)

    def _on_connection(self, work: Callable[[Connection], T]) -> T:
        try:
            return self._run(work)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The kept connection died (a server restart): once more on a new one, as a pool would.
            return self._run(work)

    def _run(self, work: Callable[[Connection], T]) -> T:
        if self._connection is None:
            connection = self._engine.connect()
            if self._autocommit:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        try:
            with self._connection.begin():
                return work(self._connection)
        except SQLAlchemyError:
            self.close()
            raise

    def close(self) -> None:
        """Give the connection back; the next claim takes a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _claim_statement() -> Update:
    """Lease :limit due rows until :until under :token, codes first, none of a :paused channel
    unless expired; built once, a claim binds values."""
    now = bindparam("now", type_=outbox.c.next_attempt_at.type)
    due = (
        select(outbox.c.id)
        .where(
            outbox.c.status == Status.PENDING,
            outbox.c.next_attempt_at <= now,
            or_(
                outbox.c.channel.not_in(bindparam("paused", expanding=True)),
                outbox.c.expires_at <= now,
            ),
        )
        .order_by(outbox.c.priority, outbox.c.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    until = bindparam("until", type_=outbox.c.locked_until.type)
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(locked_until=until, next_attempt_at=until, claim_token=bindparam("token"))
        .returning(*(outbox.c[name] for name in _CLAIMED_COLUMNS))
    )


_CLAIM = _claim_statement()


# Outcomes that say nothing of the message and so do not count towards RELAY_MAX_ATTEMPTS.
UNCOUNTED = frozenset({"expired", "provider_down", "suppressed"})
# Outcomes that were no delivery try, and so are not written as attempts.
NOT_TRIES = frozenset({"suppressed"})


@dataclass(frozen=True)
class Mark:
    """What one attempt did to its row: sent, dead with a reason, or due again at `retry_at`."""

    row: Claimed
    attempt: Attempt
    dead_reason: str | None = None
    retry_at: datetime | None = None
    provider_id: str | None = None


# Fencing: rows :ids are ours only while :token holds them; an outcome also needs the lease
# to run at :now.
_IDS = outbox.c.id.in_(bindparam("ids", expanding=True))
_PENDING = outbox.c.status == Status.PENDING
_LEASE_RUNS = outbox.c.locked_until > bindparam("now")
_OURS = (_IDS, outbox.c.claim_token == bindparam("token"), _PENDING)
_HELD = (*_OURS, _LEASE_RUNS)

# Delivered rows of any of our claims :tokens (see `mark`).
_MARK_SENT = (
    update(outbox)
    .where(
        _IDS, outbox.c.claim_token.in_(bindparam("tokens", expanding=True)), _PENDING, _LEASE_RUNS
    )
    .values(
        status=Status.SENT,
        sent_at=bindparam("now", type_=outbox.c.sent_at.type),
        attempts=outbox.c.attempts + 1,
        **WIPED,
    )
    .returning(outbox.c.id)
)


# The provider's own id of a sent message, for its later bounce notifications.
_PROVIDER_ID = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"))
    .values(provider_message_id=bindparam("provider_id"))
)

_RELEASE = (
    update(outbox)
    .where(*_OURS)
    .values(
        next_attempt_at=bindparam("due", type_=outbox.c.next_attempt_at.type),
        **RELEASED,
    )
)


# Called inside a write's transaction with the marks that ended their row dead, lease held.
OnDead = Callable[[Connection, list[Mark]], None]


def mark(
    engine: Engine, marks: list[Mark], now: datetime, *, on_dead: OnDead | None = None
) -> set[int]:
    """Write many outcomes in one transaction; the ids of the rows whose lease still held.

    Fencing: a row changes only while our claim token holds it and its lease runs at `now`,
    so a relay whose lease lapsed changes nothing and records no attempt. Delivered rows are
    marked by a single UPDATE, whatever claims they came from, which is what makes a drain
    cheap, and a trickle's write of the last half second's claims (0.5 → 0.2 ms of CPU a
    message at 25 claims a write, in process). That UPDATE takes a row whose token is any of
    those claims': all of them this relay's, so a row another relay has claimed since is
    still left alone. A row this relay claimed again after its own lease lapsed was sent
    under the earlier claim, so marking it sent is true whichever claim's outcome does it.
    `on_dead` writes what follows a death (the application's event) in the same transaction.
    """
    kept: set[int] = set()
    with engine.begin() as connection:
        for one in marks:
            if one.attempt.outcome != "sent":
                kept.update(_mark_failure(connection, one, now))
        delivered = [one.row for one in marks if one.attempt.outcome == "sent"]
        if delivered:
            held = {
                "ids": [row.id for row in delivered],
                "tokens": sorted({row.claim_token for row in delivered}),
                "now": now,
            }
            kept.update(connection.execute(_MARK_SENT, held).scalars())
            ids = [
                {"row_id": one.row.id, "provider_id": one.provider_id}
                for one in marks
                if one.provider_id is not None and one.row.id in kept
            ]
            if ids:
                connection.execute(_PROVIDER_ID, ids)
        attempts = [
            {
                "outbox_id": one.row.id,
                "attempted_at": one.attempt.at,
                "outcome": one.attempt.outcome,
                "error": one.attempt.error,
                "duration_ms": one.attempt.duration_ms,
            }
            for one in marks
            if one.row.id in kept and one.attempt.outcome not in NOT_TRIES
        ]
        if attempts:
            connection.execute(insert(outbox_attempts), attempts)
        dead = [one for one in marks if one.dead_reason is not None and one.row.id in kept]
        if dead and on_dead is not None:
            on_dead(connection, dead)
    return kept


def _mark_failure(connection: Connection, one: Mark, now: datetime) -> list[int]:
    values: dict[str, Any] = {"last_error": one.attempt.error, **RELEASED}
    if one.attempt.outcome not in UNCOUNTED:
        values["attempts"] = outbox.c.attempts + 1
    if one.dead_reason is not None:
        values.update(status=Status.DEAD, dead_reason=one.dead_reason, **WIPED)
    else:
        assert one.retry_at is not None
        values["next_attempt_at"] = one.retry_at
    held = {"ids": [one.row.id], "token": one.row.claim_token, "now": now}
    return list(
        connection.execute(
            update(outbox).where(*_HELD).values(**values).returning(outbox.c.id),
            held,
        ).scalars()
    )


def release(
    engine: Engine, rows: list[Claimed], now: datetime, *, due: datetime | None = None
) -> int:
    """Hand rows back untried (shutdown, too little lease left, no provider or no rate slot
    in time), due again at `due` (now by default); returns how many."""
    if not rows:
        return 0
    released = 0
    with engine.begin() as connection:
        for token, ids in _by_claim(rows).items():
            held = {"ids": ids, "token": token, "due": due or now}
            released += connection.execute(_RELEASE, held).rowcount
    return released


def _by_claim(rows: list[Claimed]) -> dict[str, list[int]]:
    """Row ids grouped by the claim that holds them: one fenced statement per claim."""
    grouped: dict[str, list[int]] = {}
    for row in rows:
        grouped.setdefault(row.claim_token, []).append(row.id)
    return grouped
