"""What operators do to delivery: see and repair dead letters, find stranded accounts, purge.

The command line (`outbox-relay dead …`), the admin API and the dashboard all call these; each
runs inside the caller's transaction and records itself in `operator_actions`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, type_coerce, update
from sqlalchemy.sql.elements import ColumnElement

from shared.accounts import user_by_id
from shared.config import Settings
from shared.events import emit
from shared.messages import Outbox, address_for, send_code
from shared.models import (
    UtcDateTime,
    idempotency_keys,
    operator_actions,
    outbox,
    outbox_attempts,
    provider_events,
    suppressions,
    throttle_events,
    users,
    verification_tokens,
)
from shared.outbox import CODED, FAILED, RELEASED, Status
from shared.suppressions import Suppression, Suppressor, listed

# What an erased account's address is replaced with wherever a message kept it.
ERASED = "erased"
# Messages that will never be delivered as they are: dead, or bounced after they were sent.
DEAD_STATUSES = FAILED
# The most rows one bulk retry touches; an operator runs it again for more.
BULK_RETRY_CAP = 1000


@dataclass(frozen=True)
class DeadFilter:
    """Which dead letters: every field given must match."""

    channel: str | None = None
    purpose: str | None = None
    reason: str | None = None
    recipient: str | None = None
    since: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses selecting unresolved dead letters that match."""
        found: list[ColumnElement[bool]] = [
            outbox.c.status.in_(DEAD_STATUSES),
            outbox.c.resolution.is_(None),
        ]
        if self.channel:
            found.append(outbox.c.channel == self.channel)
        if self.purpose:
            found.append(outbox.c.purpose == self.purpose)
        if self.reason == "bounced":
            found.append(outbox.c.status == "bounced")
        elif self.reason:
            found.append(outbox.c.dead_reason == self.reason)
        if self.recipient:
            found.append(outbox.c.recipient == self.recipient)
        if self.since:
            found.append(outbox.c.created_at >= self.since)
        return found


@dataclass(frozen=True)
class DeadLetter:
    """A message that will never be delivered as it stands."""

    id: str
    created_at: datetime
    channel: str
    purpose: str
    recipient: str
    attempts: int
    dead_reason: str | None
    last_error: str | None
    user_id: int | None


@dataclass(frozen=True)
class AttemptRecord:
    """One delivery attempt of a message."""

    attempted_at: datetime
    outcome: str
    duration_ms: int
    error: str | None


@dataclass(frozen=True)
class MessageDetail:
    """A message with its attempts; never its parameters or secrets."""

    id: str
    created_at: datetime
    channel: str
    purpose: str
    recipient: str
    locale: str
    status: str
    attempts: int
    dead_reason: str | None
    last_error: str | None
    sent_at: datetime | None
    user_id: int | None
    resolution: str | None
    resolved_at: datetime | None
    replaced_by: str | None
    history: list[AttemptRecord]


@dataclass(frozen=True)
class RetryResult:
    """What a retry did: `fresh_code` (new row `delivery`), `requeued`, or why it did nothing."""

    id: str
    outcome: str
    delivery: str | None = None


@dataclass(frozen=True)
class StrandedAccount:
    """A pending account whose activation cannot arrive or no longer works."""

    user_id: int
    email: str | None
    phone: str | None
    created_at: datetime
    delivery: str
    why: str


_DEAD_COLUMNS = (
    outbox.c.public_id.label("id"),
    outbox.c.created_at,
    outbox.c.channel,
    outbox.c.purpose,
    outbox.c.recipient,
    outbox.c.attempts,
    # A bounced message has no dead_reason: it was sent, then bounced.
    func.coalesce(outbox.c.dead_reason, outbox.c.status).label("dead_reason"),
    outbox.c.last_error,
    outbox.c.user_id,
)


@dataclass(frozen=True)
class Backlog:
    """How much waits: pending rows, those due now, and how long the oldest due one has waited."""

    pending: int
    due: int
    oldest_due_age: float


def backlog(connection: Connection, now: datetime) -> Backlog:
    """Count the queue, reading only the partial index of pending rows and the due rows."""
    is_due = outbox.c.next_attempt_at <= now
    total, due, oldest = connection.execute(
        select(
            func.count(),
            func.count().filter(is_due),
            type_coerce(func.min(outbox.c.created_at).filter(is_due), UtcDateTime()),
        ).where(outbox.c.status == "pending")
    ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending=total, due=due, oldest_due_age=max(age, 0.0))


def list_dead(
    connection: Connection, where: DeadFilter, *, limit: int, before: int | None = None
) -> tuple[list[DeadLetter], int | None]:
    """Unresolved dead letters, newest first, and the cursor of the next page (None at the end).

    The cursor is the internal id of the last row shown; pages stay stable while rows are added.
    """
    query = select(outbox.c.id.label("cursor"), *_DEAD_COLUMNS).where(*where.conditions())
    if before is not None:
        query = query.where(outbox.c.id < before)
    found = connection.execute(query.order_by(outbox.c.id.desc()).limit(limit + 1)).all()
    page = found[:limit]
    letters = [DeadLetter(**{k: v for k, v in r._mapping.items() if k != "cursor"}) for r in page]
    return letters, page[-1].cursor if len(found) > limit else None


def show(connection: Connection, public_id: str) -> MessageDetail | None:
    """One message and its attempts, oldest first."""
    row = connection.execute(
        select(
            outbox.c.id.label("key"),
            outbox.c.public_id.label("id"),
            outbox.c.created_at,
            outbox.c.channel,
            outbox.c.purpose,
            outbox.c.recipient,
            outbox.c.locale,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.dead_reason,
            outbox.c.last_error,
            outbox.c.sent_at,
            outbox.c.user_id,
            outbox.c.resolution,
            outbox.c.resolved_at,
            outbox.c.replaced_by,
        ).where(outbox.c.public_id == public_id)
    ).one_or_none()
    if row is None:
        return None
    history = [
        AttemptRecord(**a._mapping)
        for a in connection.execute(
            select(
                outbox_attempts.c.attempted_at,
                outbox_attempts.c.outcome,
                outbox_attempts.c.duration_ms,
                outbox_attempts.c.error,
            )
            .where(outbox_attempts.c.outbox_id == row.key)
            .order_by(outbox_attempts.c.attempted_at, outbox_attempts.c.id)
        )
    ]
    fields = {k: v for k, v in row._mapping.items() if k != "key"}
    return MessageDetail(**fields, history=history)


def retry(
    connection: Connection, queue: Outbox, public_id: str, *, actor: str, now: datetime
) -> RetryResult:
    """Deliver a dead letter again: a fresh code if it carried one, else the same row requeued.

    The first statement claims the dead row with a conditional update, so of two operators
    retrying it at once exactly one acts; the other is told it was already dealt with.
    """
    row = connection.execute(
        select(
            outbox.c.id,
            outbox.c.public_id,
            outbox.c.purpose,
            outbox.c.channel,
            outbox.c.user_id,
            outbox.c.recipient,
            outbox.c.status,
            outbox.c.resolution,
        ).where(outbox.c.public_id == public_id)
    ).one_or_none()
    if row is None:
        return RetryResult(public_id, "not_found")
    unresolved_dead = and_(
        outbox.c.id == row.id,
        outbox.c.status.in_(DEAD_STATUSES),
        outbox.c.resolution.is_(None),
    )
    if row.status not in DEAD_STATUSES or row.resolution is not None:
        result = RetryResult(public_id, "not_dead")
    elif Suppressor(queue.settings.secret_key).among(connection, [row.recipient]):
        result = RetryResult(public_id, "suppressed")
    elif row.purpose not in CODED:  # a message that carried a code gets a fresh one instead
        requeued = connection.execute(
            update(outbox)
            .where(unresolved_dead)
            .values(
                status=Status.PENDING,
                attempts=0,
                next_attempt_at=now,
                expires_at=now + timedelta(seconds=queue.settings.notice_ttl),
                dead_reason=None,
                **RELEASED,
            )
        )
        result = RetryResult(public_id, "requeued" if requeued.rowcount else "not_dead")
    else:
        result = _retry_with_fresh_code(connection, queue, row, unresolved_dead, now)
    _audit(connection, actor, "retry", public_id, {"outcome": result.outcome}, now)
    return result


def _retry_with_fresh_code(
    connection: Connection,
    queue: Outbox,
    row: Any,
    unresolved_dead: ColumnElement[bool],
    now: datetime,
) -> RetryResult:
    user = user_by_id(connection, row.user_id)
    if user is None:
        return RetryResult(row.public_id, "account_gone")
    if row.purpose == "activation" and user.status != "pending":
        return RetryResult(row.public_id, "already_active")
    if address_for(user, row.channel) is None:
        return RetryResult(row.public_id, "no_address")
    claimed = connection.execute(
        update(outbox).where(unresolved_dead).values(resolution="retried", resolved_at=now)
    )
    if not claimed.rowcount:
        return RetryResult(row.public_id, "not_dead")
    delivery = send_code(queue, connection, user, purpose=row.purpose, channel=row.channel, now=now)
    connection.execute(update(outbox).where(outbox.c.id == row.id).values(replaced_by=delivery.id))
    return RetryResult(row.public_id, "fresh_code", delivery.id)


def retry_all(
    connection: Connection,
    queue: Outbox,
    where: DeadFilter,
    *,
    actor: str,
    now: datetime,
    cap: int = BULK_RETRY_CAP,
) -> list[RetryResult]:
    """Retry up to `cap` matching dead letters, oldest first."""
    ids = (
        connection.execute(
            select(outbox.c.public_id)
            .where(*where.conditions())
            .order_by(outbox.c.id)
            .limit(min(cap, BULK_RETRY_CAP))
        )
        .scalars()
        .all()
    )
    return [retry(connection, queue, public_id, actor=actor, now=now) for public_id in ids]


def discard(connection: Connection, public_id: str, *, actor: str, now: datetime) -> bool:
    """Mark a dead letter dealt with, without sending anything; False if it is not one."""
    discarded = connection.execute(
        update(outbox)
        .where(
            outbox.c.public_id == public_id,
            outbox.c.status == "dead",
            outbox.c.resolution.is_(None),
        )
        .values(resolution="discarded", resolved_at=now)
    ).rowcount
    _audit(connection, actor, "discard", public_id, {"discarded": bool(discarded)}, now)
    return bool(discarded)


def stats(connection: Connection, now: datetime) -> dict[str, Any]:
    """Counts by status and channel, the oldest due message's age, the last hour's attempts."""
    counts: dict[str, dict[str, int]] = {}
    for status, channel, number in connection.execute(
        select(outbox.c.status, outbox.c.channel, func.count()).group_by(
            outbox.c.status, outbox.c.channel
        )
    ):
        counts.setdefault(status, {})[channel] = number
    hour_ago = now - timedelta(hours=1)
    sent_last_hour = connection.execute(
        select(func.count()).where(outbox.c.status == "sent", outbox.c.sent_at > hour_ago)
    ).scalar_one()
    failed_last_hour = connection.execute(
        select(func.count()).where(
            outbox_attempts.c.attempted_at > hour_ago, outbox_attempts.c.outcome != "sent"
        )
    ).scalar_one()
    return {
        "by_status": counts,
        "oldest_due_age_seconds": backlog(connection, now).oldest_due_age,
        "sent_last_hour": sent_last_hour,
        "failed_last_hour": failed_last_hour,
        "dead_unresolved": connection.execute(
            select(func.count()).where(*DeadFilter().conditions())
        ).scalar_one(),
    }


def hourly_outcomes(connection: Connection, now: datetime) -> list[dict[str, Any]]:
    """Sent and failed attempts per hour over the last 24 hours, oldest hour first."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    attempted = outbox_attempts.c.attempted_at
    if connection.dialect.name == "postgresql":
        hour_of = func.date_trunc("hour", func.timezone("UTC", attempted))
    else:
        hour_of = func.strftime("%Y-%m-%d %H:00:00", attempted)
    bucket = type_coerce(hour_of, UtcDateTime()).label("hour")
    sent = outbox_attempts.c.outcome == "sent"
    counted = {
        hour: (delivered, failed)
        for hour, delivered, failed in connection.execute(
            select(bucket, func.count().filter(sent), func.count().filter(~sent))
            .where(attempted >= start)
            .group_by(bucket)
        )
    }
    hours = [start + timedelta(hours=n) for n in range(24)]
    return [
        {"hour": hour, "sent": delivered, "failed": failed}
        for hour in hours
        for delivered, failed in [counted.get(hour, (0, 0))]
    ]


def stranded(connection: Connection, now: datetime, *, limit: int = 500) -> list[StrandedAccount]:
    """Pending accounts whose latest activation message died, or whose code expired or died;
    and active accounts whose activation the application never heard of."""
    earlier = outbox.alias("earlier")
    latest = (
        select(func.max(earlier.c.id))
        .where(earlier.c.user_id == users.c.id, earlier.c.purpose == "activation")
        .correlate(users)
        .scalar_subquery()
    )
    found = connection.execute(
        select(
            users.c.id,
            users.c.email,
            users.c.phone,
            users.c.created_at,
            outbox.c.public_id,
            outbox.c.status,
            outbox.c.dead_reason,
            verification_tokens.c.status.label("code_status"),
            verification_tokens.c.expires_at,
            suppressions.c.reason.label("suppressed"),
        )
        .select_from(
            users.join(outbox, outbox.c.id == latest)
            .outerjoin(verification_tokens, verification_tokens.c.id == outbox.c.token_id)
            .outerjoin(suppressions, suppressions.c.address == outbox.c.recipient)
        )
        .where(
            users.c.status == "pending",
            or_(
                outbox.c.status.in_(("dead", "bounced")),
                verification_tokens.c.status == "dead",
                verification_tokens.c.expires_at <= now,
            ),
        )
        .order_by(users.c.created_at)
        .limit(limit)
    ).all()
    return [
        _stranded_account(
            r,
            f"address suppressed ({r.suppressed})"
            if r.suppressed
            else "message bounced"
            if r.status == "bounced"
            else f"message dead ({r.dead_reason})"
            if r.status == "dead"
            else "code tried too often"
            if r.code_status == "dead"
            else "code expired",
        )
        for r in found
    ] + _unprovisioned(connection, limit=limit)


def _stranded_account(r: Any, why: str) -> StrandedAccount:
    """A row of users joined to its message, as a stranded account and why."""
    return StrandedAccount(
        user_id=r.id,
        email=r.email,
        phone=r.phone,
        created_at=r.created_at,
        delivery=r.public_id,
        why=why,
    )


def _unprovisioned(connection: Connection, *, limit: int) -> list[StrandedAccount]:
    """Active accounts whose `account.activated` event died: the application never heard of
    the activation (what it provisions then was never done). `dead retry ID` sends it again."""
    found = connection.execute(
        select(
            users.c.id,
            users.c.email,
            users.c.phone,
            users.c.created_at,
            outbox.c.public_id,
            outbox.c.dead_reason,
        )
        .select_from(users.join(outbox, outbox.c.user_id == users.c.id))
        .where(
            users.c.status == "active",
            outbox.c.purpose == "account.activated",
            outbox.c.status == "dead",
            outbox.c.resolution.is_(None),
        )
        .order_by(users.c.created_at)
        .limit(limit)
    ).all()
    return [
        _stranded_account(
            r, f"account.activated event dead ({r.dead_reason}): dead retry {r.public_id}"
        )
        for r in found
    ]


def list_suppressions(connection: Connection, *, limit: int = 500) -> list[Suppression]:
    """The suppressed addresses, newest first: why, from which event, since when."""
    return listed(connection, limit=limit)


def remove_suppressions(
    connection: Connection,
    queue: Outbox,
    addresses: list[str],
    *,
    actor: str,
    now: datetime,
) -> list[str]:
    """Let messages go to these addresses again; those that were suppressed. Audited by keyed
    hash, so that the audit keeps no address an erasure would have to find."""
    suppressor = Suppressor(queue.settings.secret_key)
    removed = suppressor.remove(connection, addresses)
    details = {"removed": [suppressor.hash(address) for address in removed]}
    _audit(connection, actor, "remove_suppressions", None, details, now)
    return removed


def erase(
    connection: Connection, queue: Outbox, user_id: int, *, actor: str, now: datetime
) -> bool:
    """Erase an account (GDPR art. 17); False if there is none.

    In one transaction: its pending messages are cancelled; its address is scrubbed from every
    message, attempt and provider event (`last_error` and diagnostics often quote it) and from
    its suppression, which keeps the keyed hash and so still suppresses; the account and its
    codes are deleted; the audit records the id only; `account.erased` tells the application.
    """
    user = user_by_id(connection, user_id)
    if user is None:
        return False
    addresses = [address for address in (user.email, user.phone) if address]
    theirs = or_(outbox.c.user_id == user_id, outbox.c.recipient.in_(addresses))
    ids = list(connection.execute(select(outbox.c.id).where(theirs)).scalars())
    if ids:
        connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.status == Status.PENDING)
            .values(status=Status.CANCELLED, **RELEASED)
        )
        connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(
                recipient=ERASED,
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
    suppressor = Suppressor(queue.settings.secret_key)
    for address in addresses:
        suppressor.forget_address(connection, address)
    connection.execute(delete(users).where(users.c.id == user_id))
    _audit(connection, actor, "erase", str(user_id), {"messages": len(ids)}, now)
    emit(connection, queue.settings, queue.box, now=now, event="account.erased", user_id=user_id)
    return True


def reissue_activation(
    connection: Connection, queue: Outbox, user_id: int, *, actor: str, now: datetime
) -> str | None:
    """Send a pending account a fresh activation code; the new delivery id, or None."""
    user = user_by_id(connection, user_id)
    delivery: str | None = None
    if user is not None and user.status == "pending":
        channel = connection.execute(
            select(outbox.c.channel)
            .where(outbox.c.user_id == user_id, outbox.c.purpose == "activation")
            .order_by(outbox.c.id.desc())
            .limit(1)
        ).scalar_one_or_none() or ("email" if user.email else "sms")
        if address_for(user, channel) is None:
            channel = "email" if user.email else "sms"
        delivery = send_code(
            queue, connection, user, purpose="activation", channel=channel, now=now
        ).id
    _audit(connection, actor, "reissue_activation", str(user_id), {"delivery": delivery}, now)
    return delivery


@dataclass(frozen=True)
class Purged:
    """How many rows a purge removed, by kind."""

    sent: int
    dead: int
    cancelled: int
    unactivated_accounts: int
    throttle_events: int
    idempotency_keys: int


def purge(connection: Connection, settings: Settings, *, actor: str, now: datetime) -> Purged:
    """Delete what has outlived its retention window; attempts go with their messages."""
    sent_before = now - timedelta(days=settings.retention_sent_days)
    dead_before = now - timedelta(days=settings.retention_dead_days)
    accounts_before = now - timedelta(days=settings.retention_unactivated_days)
    # Throttle windows are an hour at most; codes' tries last as long as the longest code.
    events_before = now - timedelta(seconds=max(3600, settings.activation_ttl, settings.reset_ttl))

    def remove(table: Any, *where: ColumnElement[bool]) -> int:
        return int(connection.execute(delete(table).where(*where)).rowcount)

    purged = Purged(
        sent=remove(outbox, outbox.c.status == "sent", outbox.c.sent_at < sent_before),
        dead=remove(outbox, outbox.c.status.in_(DEAD_STATUSES), outbox.c.created_at < dead_before),
        cancelled=remove(outbox, outbox.c.status == "cancelled", outbox.c.created_at < dead_before),
        unactivated_accounts=_remove_unactivated(connection, accounts_before),
        throttle_events=remove(throttle_events, throttle_events.c.at < events_before),
        idempotency_keys=remove(
            idempotency_keys, idempotency_keys.c.created_at < now - timedelta(days=1)
        ),
    )
    _audit(connection, actor, "purge", None, asdict(purged), now)
    return purged


def _remove_unactivated(connection: Connection, created_before: datetime) -> int:
    """Delete accounts never activated, with their messages, so their addresses are free."""
    stale = select(users.c.id).where(
        users.c.status == "pending", users.c.created_at < created_before
    )
    connection.execute(delete(outbox).where(outbox.c.user_id.in_(stale)))
    return int(connection.execute(delete(users).where(users.c.id.in_(stale))).rowcount)


def audit_log(connection: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest operator actions first."""
    return [
        dict(r._mapping)
        for r in connection.execute(
            select(operator_actions).order_by(operator_actions.c.id.desc()).limit(limit)
        )
    ]


def _audit(
    connection: Connection,
    actor: str,
    action: str,
    target: str | None,
    details: dict[str, Any],
    now: datetime,
) -> None:
    connection.execute(
        insert(operator_actions).values(
            at=now, actor=actor[:200], action=action, target=target, details=details
        )
    )
