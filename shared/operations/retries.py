"""Repairing dead letters: retry one or many (a fresh code, or the row requeued), or discard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.sql.elements import ColumnElement

from shared.accounts.accounts import UserStatus, user_by_id
from shared.accounts.lockouts import restart_code_tries
from shared.accounts.reaching import address_for, with_address
from shared.database.models import outbox
from shared.messaging import webhook_endpoints
from shared.messaging.messages import Queueing, send_code
from shared.messaging.outbox import BOUND_TO_ADDRESS, CODED, WEBHOOK, Purpose
from shared.messaging.transitions import Resolution, requeue, requeue_each, resolve
from shared.operations.audit import record, record_all
from shared.operations.dead_letters import DEAD_STATUSES, DeadFilter

# The most rows one bulk retry touches; an operator runs it again for more.
BULK_RETRY_CAP = 1000


class RetryOutcome(StrEnum):
    """What a retry did, in the order the faces list them."""

    FRESH_CODE = "fresh_code"
    REQUEUED = "requeued"
    NOT_DEAD = "not_dead"
    NOT_FOUND = "not_found"
    ACCOUNT_GONE = "account_gone"
    ALREADY_ACTIVE = "already_active"
    NO_ADDRESS = "no_address"
    SUPPRESSED = "suppressed"
    ENDPOINT_GONE = "endpoint_gone"


# Each outcome in words, as every face names it.
RETRY_WORDS: dict[RetryOutcome, str] = {
    RetryOutcome.FRESH_CODE: "fresh code sent",
    RetryOutcome.REQUEUED: "requeued",
    RetryOutcome.NOT_DEAD: "already dealt with",
    RetryOutcome.NOT_FOUND: "not found",
    RetryOutcome.ACCOUNT_GONE: "account gone",
    RetryOutcome.ALREADY_ACTIVE: "account already active",
    RetryOutcome.NO_ADDRESS: "no address",
    RetryOutcome.SUPPRESSED: "address suppressed",
    RetryOutcome.ENDPOINT_GONE: "webhook endpoint removed",
}
# The outcomes that count as retried: the message is on its way again.
RETRIED = frozenset({RetryOutcome.FRESH_CODE, RetryOutcome.REQUEUED})


@dataclass(frozen=True)
class RetryResult:
    """What a retry did: `fresh_code` (new row `delivery`), `requeued`, or why it did nothing."""

    id: str
    outcome: RetryOutcome
    delivery: str | None = None


def count_retried(results: Iterable[RetryResult]) -> int:
    """How many of these retries put a message on its way again."""
    return sum(1 for result in results if result.outcome in RETRIED)


_DEAD_ROW = select(
    outbox.c.id,
    outbox.c.public_id,
    outbox.c.purpose,
    outbox.c.channel,
    outbox.c.user_id,
    outbox.c.recipient,
    outbox.c.status,
    outbox.c.resolution,
)


def retry(
    connection: Connection, deps: Queueing, public_id: str, *, actor: str, now: datetime
) -> RetryResult:
    """Deliver a dead letter again: a fresh code if it carried one, else the same row requeued.

    The row's own statement claims the dead row with a conditional update, so of two operators
    retrying it at once exactly one acts; the other is told it was already dealt with.
    """
    row = connection.execute(_DEAD_ROW.where(outbox.c.public_id == public_id)).one_or_none()
    if row is None:
        return RetryResult(public_id, RetryOutcome.NOT_FOUND)
    suppressed = deps.suppressor.of(connection).among(connection, [row.recipient])
    result = _retry_row(connection, deps, row, bool(suppressed), now)
    record(connection, actor, "retry", public_id, {"outcome": result.outcome}, now)
    return result


def retry_all(
    connection: Connection,
    deps: Queueing,
    where: DeadFilter,
    *,
    actor: str,
    now: datetime,
    cap: int = BULK_RETRY_CAP,
) -> list[RetryResult]:
    """Retry up to `cap` matching dead letters, oldest first: the rows and their suppressions
    read at once, each row's own conditional statement, the audit written at once."""
    rows = connection.execute(
        _DEAD_ROW.where(*where.conditions()).order_by(outbox.c.id).limit(min(cap, BULK_RETRY_CAP))
    ).all()
    suppressor = deps.suppressor.of(connection)
    suppressed = suppressor.among(connection, [r.recipient for r in rows])
    # The rows requeued as they are, in one statement; the others one by one.
    plain = {
        r.id: suppressor.hash(r.recipient)
        for r in rows
        if _refusal(r, r.recipient in suppressed) is None and _requeued_as_is(r)
    }
    requeued = requeue_each(
        connection, and_(*DeadFilter().conditions()), plain, now=now, expires_at=_expiry(deps, now)
    )
    results = [
        (
            RetryResult(r.public_id, _requeue_outcome(r.id in requeued))
            if r.id in plain
            else _retry_row(connection, deps, r, r.recipient in suppressed, now)
        )
        for r in rows
    ]
    done = [(result.id, {"outcome": result.outcome}) for result in results]
    record_all(connection, actor, "retry", done, now)
    return results


def _retry_row(
    connection: Connection, deps: Queueing, row: Any, suppressed: bool, now: datetime
) -> RetryResult:
    unresolved_dead = and_(outbox.c.id == row.id, *DeadFilter().conditions())
    refused = _refusal(row, suppressed)
    if refused is not None:
        return RetryResult(row.public_id, refused)
    if row.purpose in CODED:  # a message that carried a code gets a fresh one instead
        return _retry_with_fresh_code(connection, deps, row, unresolved_dead, now)
    # An endpoint's event, whose URL and secret its death wiped, carries them again.
    sealed = None
    if not _requeued_as_is(row):
        sealed = webhook_endpoints.sealed(connection, row.recipient)
        if sealed is None:
            return RetryResult(row.public_id, RetryOutcome.ENDPOINT_GONE)
    requeued = requeue(
        connection,
        unresolved_dead,
        now=now,
        expires_at=_expiry(deps, now),
        recipient_hash=deps.suppressor.of(connection).hash(row.recipient),
        secret_params=sealed,
    )
    return RetryResult(row.public_id, _requeue_outcome(requeued))


def _refusal(row: Any, suppressed: bool) -> RetryOutcome | None:
    """Why a dead letter read as `row` is not retried (no longer dead, or its address
    suppressed); None if it is."""
    if row.status not in DEAD_STATUSES or row.resolution is not None:
        return RetryOutcome.NOT_DEAD
    return RetryOutcome.SUPPRESSED if suppressed else None


def _requeued_as_is(row: Any) -> bool:
    """Whether a retried dead letter goes again as it is: not a code (a fresh one replaces
    it), nor an endpoint's event (its URL and secret sealed again)."""
    return row.purpose not in CODED and not (row.channel == WEBHOOK and row.recipient != WEBHOOK)


def _requeue_outcome(requeued: bool) -> RetryOutcome:
    """A requeue's outcome: done, or the row was dealt with meanwhile."""
    return RetryOutcome.REQUEUED if requeued else RetryOutcome.NOT_DEAD


def _expiry(deps: Queueing, now: datetime) -> datetime:
    """When a requeued notice expires."""
    return now + timedelta(seconds=deps.settings.notice_ttl)


def _retry_with_fresh_code(
    connection: Connection,
    deps: Queueing,
    row: Any,
    unresolved_dead: ColumnElement[bool],
    now: datetime,
) -> RetryResult:
    user = user_by_id(connection, row.user_id)
    if user is None:
        return RetryResult(row.public_id, RetryOutcome.ACCOUNT_GONE)
    if row.purpose == Purpose.ACTIVATION and user.status != UserStatus.PENDING:
        return RetryResult(row.public_id, RetryOutcome.ALREADY_ACTIVE)
    # A code bound to an address the account does not hold yet goes where the first one went.
    bound = row.purpose in BOUND_TO_ADDRESS
    code_to = with_address(user, row.channel, row.recipient) if bound else user
    if address_for(code_to, row.channel) is None:
        return RetryResult(row.public_id, RetryOutcome.NO_ADDRESS)
    if not resolve(connection, unresolved_dead, Resolution.RETRIED, now):
        return RetryResult(row.public_id, RetryOutcome.NOT_DEAD)
    purpose, channel = row.purpose, row.channel
    delivery = send_code(
        deps, connection, code_to, cause=None, purpose=purpose, channel=channel, now=now
    )
    restart_code_tries(deps.throttle, connection, user, purpose=row.purpose)
    connection.execute(update(outbox).where(outbox.c.id == row.id).values(replaced_by=delivery.id))
    return RetryResult(row.public_id, RetryOutcome.FRESH_CODE, delivery.id)


def discard(connection: Connection, public_id: str, *, actor: str, now: datetime) -> bool:
    """Mark a dead letter dealt with, without sending anything; False if it is not one."""
    discarded = resolve(
        connection,
        and_(outbox.c.public_id == public_id, *DeadFilter().conditions()),
        Resolution.DISCARDED,
        now,
    )
    record(connection, actor, "discard", public_id, {"discarded": discarded}, now)
    return discarded
