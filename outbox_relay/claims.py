"""The relay's claim: due rows leased to one relay, in one statement on a connection it keeps."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Label,
    Update,
    and_,
    bindparam,
    event,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from shared.database.driver import DriverStatement
from shared.database.models import outbox, suppressions
from shared.messaging.fallbacks import FALLS_BACK
from shared.messaging.outbox import Channel, Purpose, Status
from shared.messaging.suppressions import SuppressionReason
from shared.vocabulary import EventType

T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    """A row this relay holds until `locked_until`, under `claim_token`."""

    id: int
    public_id: str
    channel: Channel
    purpose: Purpose | EventType
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
    # The order it is sent in, as the row stores it (shared.messaging.outbox.priority_of: 0 first).
    priority: int
    # Whether the recipient was on the suppression list when claimed; None when the row does
    # not say (an event, or a row queued before the rows kept their recipient's hash).
    suppressed: bool | None = None
    # To end `withheld`, no provider called (shared.messaging.outbox.enqueue).
    withhold: bool = False
    created_at: datetime | None = None
    # When its code's fallback was decided, or it was written as one (shared.messaging.fallbacks).
    fallback_at: datetime | None = None


# The outbox columns a claim returns; `suppressed` is read beside them.
CLAIMED_COLUMNS = [name for name in Claimed.__dataclass_fields__ if name != "suppressed"]


def prepare(engine: Engine, *, transaction_pooler: bool = False) -> None:
    """Set up the relay's PostgreSQL connections for `claim`, as each one opens.

    A claim must walk the index of due rows in order: it then stops after `limit` live rows,
    and marks the dead entries it passes (left by rows already sent) so that later claims skip
    them. With stale statistics (no autovacuum, or a burst since it last ran) the planner may
    pick a bitmap scan instead, which reads every due row and every dead entry, then sorts, on
    every claim: the more sent since the last VACUUM, the dearer each claim.

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
    BEGIN or COMMIT round trip and no pool checkout for it, CPU the relay spends on every claim.
    SQLite keeps its transaction, which takes the write lock up front (shared.database.db).
    One thread claims at a time. Behind a transaction pooler, a claim is a transaction of its
    own that first sets, for itself only, what `prepare` sets for a whole session.
    """

    def __init__(self, engine: Engine, *, transaction_pooler: bool = False) -> None:
        self._engine = engine
        self._autocommit = engine.dialect.name == "postgresql" and not transaction_pooler
        self._set_local = engine.dialect.name == "postgresql" and transaction_pooler
        self._connection: Connection | None = None

    def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease_seconds: int,
        paused: Sequence[str] = (),
        fallback_before: datetime | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due rows to a new claim token; other relays skip them meanwhile.

        Rows that carry a code come first. A claimed row's `next_attempt_at` moves to the end
        of its lease, so the one due-rows index serves both "never tried" and "lease lapsed":
        a crashed relay's rows come back by themselves. Rows of the `paused` channels (no
        provider up) stay where they are, due, unless their horizon has passed: those are
        claimed to be marked expired; or unless they carry a code written before
        `fallback_before` whose fallback is not decided yet (CODE_FALLBACK_AFTER): those are
        claimed for it (decide.fallback_in).
        """
        values = {
            "now": now,
            "limit": limit,
            "until": now + timedelta(seconds=lease_seconds),
            "token": uuid.uuid4().hex,
        }
        if fallback_before is not None:
            values["fallback_before"] = fallback_before
        statement = _claim_skipping(tuple(sorted(paused)), fallback_before is not None)

        def leased(connection: Connection) -> list[dict[str, Any]]:
            if self._set_local:
                connection.execute(_WALK_INDEXES_IN_ORDER_HERE)
            return statement.rows(connection, values)

        rows = self._on_connection(leased)
        return sorted((_claimed(row) for row in rows), key=lambda claimed: claimed.id)

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run a read, or a statement atomic by itself, on the claims' connection: no pool
        checkout, no BEGIN on PostgreSQL."""
        return self._on_connection(work)

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
            if self._autocommit:
                # Each statement is its own transaction: SQLAlchemy's is bookkeeping only.
                return work(self._connection)
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


@cache
def _claim_skipping(paused: tuple[str, ...], fallback: bool) -> DriverStatement:
    """The claim that skips the `paused` channels (sorted) but for their codes due a
    `fallback`, built once for each set: a relay
    without an SMS provider skips `sms` on every claim, and the channels are named one by one
    because a list would be expanded into the SQL on every execution."""
    return DriverStatement(_claim_statement(paused, fallback))


def _claim_statement(paused: tuple[str, ...], fallback: bool) -> Update:
    """Lease :limit due rows until :until under :token, codes first; none of a `paused`
    channel unless expired, or (with `fallback`) a code written before :fallback_before whose
    fallback is not decided yet."""
    now = bindparam("now", type_=outbox.c.next_attempt_at.type)
    due_now = [outbox.c.status == Status.PENDING, outbox.c.next_attempt_at <= now]
    if paused:
        live = and_(*(outbox.c.channel != channel for channel in paused))
        waiting = [live, outbox.c.expires_at <= now]
        if fallback:
            waiting.append(_fallback_due())
        due_now.append(or_(*waiting))
    due = (
        select(outbox.c.id)
        .where(*due_now)
        .order_by(outbox.c.priority, outbox.c.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    until = bindparam("until", type_=outbox.c.locked_until.type)
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(locked_until=until, next_attempt_at=until, claim_token=bindparam("token"))
        .returning(
            *(outbox.c[name] for name in CLAIMED_COLUMNS), outbox.c.recipient_hash, _listed_now()
        )
    )


def _fallback_due() -> ColumnElement[bool]:
    """A code written before :fallback_before whose fallback is not decided yet; its purposes
    named one by one, as the channels are."""
    before = bindparam("fallback_before", type_=outbox.c.created_at.type)
    codes = or_(*(outbox.c.purpose == purpose for purpose in sorted(FALLS_BACK)))
    return and_(codes, outbox.c.fallback_at.is_(None), outbox.c.created_at <= before)


def _listed_now() -> Label[bool]:
    """Whether the row's recipient hash is on the suppression list for it: read by the claim
    itself, where a query of its own cost the relay a round trip a claim. An unsubscribed
    address is listed for "no account" notices only (SPEC "Unsubscribing")."""
    listed = select(suppressions.c.id).where(
        suppressions.c.address_hash == outbox.c.recipient_hash,
        or_(
            suppressions.c.reason != SuppressionReason.UNSUBSCRIBED,
            outbox.c.purpose == Purpose.NO_ACCOUNT,
        ),
    )
    return listed.exists().label("listed")


def _claimed(values: dict[str, Any]) -> Claimed:
    """A claimed row; whether it is suppressed is known only where the row has its hash.

    Decided here, not by a CASE in the claim: in a RETURNING clause, SQLite 3.40 answers
    `recipient_hash IS NULL` with false for a NULL hash (the column was added by ALTER TABLE).
    """
    known = values.pop("recipient_hash") is not None
    listed = bool(values.pop("listed"))
    withhold = bool(values.pop("withhold"))
    return Claimed(**values, suppressed=listed if known else None, withhold=withhold)
