"""Every change of an outbox row's status, named, in the caller's transaction: the one module
that writes `outbox.status` (tests/test_house.py keeps it so). The relay's statements are built
once here and bound by outbox_relay/store.py; its claim (outbox_relay/claims.py) leases rows
without changing their status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Update, and_, bindparam, case, or_, update
from sqlalchemy.sql.elements import ColumnElement

from shared.database.models import outbox
from shared.messaging.outbox import RELEASED, SECRETS, WEBHOOK, WIPED, DeadReason, Status
from shared.verdicts import Refusal

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import Resolution as Resolution

# Fencing: rows :ids are ours only while :token holds them; an outcome also needs the lease
# to run at :now.
_IDS = outbox.c.id.in_(bindparam("ids", expanding=True))
_PENDING = outbox.c.status == Status.PENDING
_LEASE_RUNS = outbox.c.locked_until > bindparam("now")
_OURS = (_IDS, outbox.c.claim_token == bindparam("token"), _PENDING)
HELD = (*_OURS, _LEASE_RUNS)
# A row :row_id no claim holds, whose attempts are still the :seen its last claim saw.
UNHELD = (
    outbox.c.id == bindparam("row_id"),
    outbox.c.claim_token.is_(None),
    _PENDING,
    outbox.c.attempts == bindparam("seen"),
)

# Outcomes are the truth: a message the provider took ends `sent` even if it was cancelled
# while we held it (cancelling keeps the claim, `cancel_messages`), and stays `bounced` if the
# provider reported a bounce before we wrote this (`bounce`).
_DELIVERED = (Status.PENDING, Status.CANCELLED, Status.BOUNCED)


def mark_sent(*ours: ColumnElement[bool]) -> Update:
    """Delivered rows, those `ours` picks, as of :now. An erased row (cancelled, then
    scrubbed) is safe to mark: the statement writes no address, parameter or error (the relay
    writes the provider's id, which erasure removes too, to a row not erased only)."""
    return (
        update(outbox)
        .where(
            *ours,
            # Named one by one: a list of values is expanded into the SQL on every execution.
            or_(*(outbox.c.status == status for status in _DELIVERED)),
            _LEASE_RUNS,
        )
        .values(
            status=case((outbox.c.status == Status.BOUNCED, Status.BOUNCED), else_=Status.SENT),
            sent_at=bindparam("now", type_=outbox.c.sent_at.type),
            attempts=outbox.c.attempts + 1,
            **WIPED,
        )
        .returning(outbox.c.id)
    )


# Delivered rows :ids of any of our claims :tokens (outbox_relay/store.py, on SQLite; PostgreSQL
# picks them with `mark_sent` from a table of their values).
MARK_SENT = mark_sent(_IDS, outbox.c.claim_token.in_(bindparam("tokens", expanding=True)))

# A row :ids of claim :token ended `withheld` as of :now, held to the lease as an outcome is: the
# attempt its client sees counted, its secrets wiped, no provider called (SPEC "No enumeration").
MARK_WITHHELD = (
    update(outbox)
    .where(*HELD)
    .values(
        status=Status.WITHHELD,
        sent_at=bindparam("now", type_=outbox.c.sent_at.type),
        attempts=outbox.c.attempts + 1,
        **WIPED,
    )
    .returning(outbox.c.id)
)

# Rows :ids of claim :token handed back untried, due again at :due.
RELEASE = (
    update(outbox)
    .where(*_OURS)
    .values(
        next_attempt_at=bindparam("due", type_=outbox.c.next_attempt_at.type),
        **RELEASED,
    )
)


def mark_failed(
    fence: Sequence[ColumnElement[bool]],
    *,
    error: str | None,
    counts: bool,
    dead_reason: DeadReason | None,
    refusal: Refusal | None = None,
    retry_at: datetime | None,
) -> Update:
    """A failed attempt on the row `fence` picks (HELD or UNHELD): dead of `dead_reason` (and
    what it refused, `refusal`) as of :now, or due again at `retry_at`; returns the row's id if
    it changed."""
    values: dict[str, Any] = {"last_error": error, **RELEASED}
    if counts:
        values["attempts"] = outbox.c.attempts + 1
    if dead_reason is not None:
        died = bindparam("now", type_=outbox.c.dead_at.type)
        values.update(
            status=Status.DEAD, dead_reason=dead_reason, refusal=refusal, dead_at=died, **WIPED
        )
    else:
        assert retry_at is not None
        values["next_attempt_at"] = retry_at
    return update(outbox).where(*fence).values(**values).returning(outbox.c.id)


def cancel_messages(connection: Connection, token_ids: Sequence[int]) -> None:
    """Cancel the unsent messages carrying these codes; their secrets are wiped at once.

    A row a relay holds keeps its claim: if the provider takes the message meanwhile, that
    claim's outcome still records it `sent` (outcomes are the truth), and no other may.
    The statement runs even for no codes, so that a first code costs what a new one does.
    """
    connection.execute(
        update(outbox)
        .where(outbox.c.token_id.in_(token_ids), _PENDING)
        .values(status=Status.CANCELLED, **SECRETS)
    )


def cancel_events_to(connection: Connection, recipient: str) -> None:
    """Cancel the unsent events queued for an endpoint (its id the rows' recipient), their
    secrets wiped at once (a row a relay holds keeps its claim, as `cancel_messages` says)."""
    connection.execute(
        update(outbox)
        .where(outbox.c.channel == WEBHOOK, outbox.c.recipient == recipient, _PENDING)
        .values(status=Status.CANCELLED, **SECRETS)
    )


def cancel_unsent(connection: Connection, ids: Sequence[int]) -> None:
    """Cancel those of these messages not yet sent (a row a relay holds keeps its claim)."""
    connection.execute(
        update(outbox).where(outbox.c.id.in_(ids), _PENDING).values(status=Status.CANCELLED)
    )


def bounce(
    connection: Connection,
    row_id: int,
    error: str,
    now: datetime,
    dead_reason: DeadReason | None = None,
    refusal: Refusal | None = None,
) -> bool:
    """Mark a message `bounced`, sent or still held by a relay at `now` (not yet marked,
    possibly cancelled meanwhile); whether it changed. `dead_reason` `permanent_error`: the
    message failed but its address was not refused (a client sees `undeliverable`);
    `refusal`: what the provider's report refused."""
    in_flight = and_(
        outbox.c.status.in_((Status.PENDING, Status.CANCELLED)), outbox.c.locked_until > now
    )
    changed = connection.execute(
        update(outbox)
        .where(outbox.c.id == row_id, or_(outbox.c.status == Status.SENT, in_flight))
        .values(
            status=Status.BOUNCED,
            dead_reason=dead_reason,
            refusal=refusal,
            last_error=error,
            **SECRETS,
        )
    ).rowcount
    return bool(changed)


def requeue(
    connection: Connection,
    where: ColumnElement[bool],
    *,
    now: datetime,
    expires_at: datetime,
    recipient_hash: str | None,
    secret_params: str | None = None,
) -> bool:
    """Put the dead rows `where` picks back in the queue, untried and due now, with
    `secret_params` (sealed: an endpoint's event carries its URL and secret again); whether
    any."""
    requeued = connection.execute(_requeue(where, now, expires_at, recipient_hash, secret_params))
    return bool(requeued.rowcount)


def requeue_each(
    connection: Connection,
    where: ColumnElement[bool],
    hashes: Mapping[int, str | None],
    *,
    now: datetime,
    expires_at: datetime,
) -> set[int]:
    """Requeue, as `requeue` does, the rows of `hashes` (id: its recipient's hash) that `where`
    picks, in one statement: the ids requeued. (One statement a row took a thousand rows'
    bulk retry past the request's 10 s bound on a loaded machine.)"""
    if not hashes:
        return set()
    statement = _requeue(
        and_(outbox.c.id.in_(hashes), where), now, expires_at, case(dict(hashes), value=outbox.c.id)
    )
    return set(connection.execute(statement.returning(outbox.c.id)).scalars())


def _requeue(
    where: ColumnElement[bool],
    now: datetime,
    expires_at: datetime,
    recipient_hash: str | ColumnElement[Any] | None,
    secret_params: str | None = None,
) -> Update:
    """The update putting the dead rows `where` picks back in the queue, untried, due `now`."""
    return (
        update(outbox)
        .where(where)
        .values(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            expires_at=expires_at,
            dead_reason=None,
            dead_at=None,
            refusal=None,
            recipient_hash=recipient_hash,
            secret_params=secret_params,
            **RELEASED,
        )
    )


def resolve(
    connection: Connection,
    where: ColumnElement[bool],
    resolution: Resolution,
    now: datetime,
    *,
    replaced_by: str | None = None,
) -> bool:
    """Mark the dead letters `where` picks dealt with (by the new delivery `replaced_by`, if a
    fresh code replaced them); whether any was."""
    values = {"resolution": resolution, "resolved_at": now}
    if replaced_by is not None:
        values["replaced_by"] = replaced_by
    resolved = connection.execute(update(outbox).where(where).values(**values))
    return bool(resolved.rowcount)
