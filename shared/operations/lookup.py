"""Support's lookup of an address: its accounts, every message sent to it and its account's
history, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from shared.accounts.accounts import UserStatus
from shared.accounts.history import Event, events_of
from shared.database.models import outbox, provider_events, users
from shared.messaging.outbox import FAILED, Channel, DeadReason, Purpose, Status
from shared.messaging.refusals import FailureReason, failure_reason
from shared.reports.provider_events import ProviderEventType

# The messages one page of a lookup lists, on every face.
LOOKUP_PAGE = 50


@dataclass(frozen=True)
class Sent:
    """A message to the address looked up, as support sees it: never its code or body."""

    id: str
    purpose: Purpose
    channel: Channel
    status: Status
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    dead_reason: DeadReason | None
    reason: FailureReason | None
    last_error: str | None


@dataclass(frozen=True)
class Account:
    """An account holding the address looked up."""

    id: int
    email: str | None
    phone: str | None
    status: UserStatus
    created_at: datetime
    activated_at: datetime | None
    # Whether a code sent to each address was used (SPEC "An unproven address holds nothing").
    email_proven: bool
    phone_proven: bool


@dataclass(frozen=True)
class Lookup:
    """What the dashboard shows of an address: its accounts, a page of its messages, the next
    page's cursor, and the newest page of the history of the account holding it (if any) with
    whether it has older events."""

    accounts: list[Account]
    messages: list[Sent]
    next_cursor: int | None
    history: list[Event]
    older_history: bool


# When a message arrived: the first receipt that said so (provider_events: type `delivery`).
# Operators' alone: a client is never shown it (shared/messaging/views.py).
DELIVERED_AT = (
    select(func.min(provider_events.c.at))
    .where(
        provider_events.c.outbox_id == outbox.c.id,
        provider_events.c.type == ProviderEventType.DELIVERY,
    )
    .scalar_subquery()
    .label("delivered_at")
)

# Read through `outbox_recipient_id` (migration 0022): the address's rows, newest first.
_SENT = select(
    outbox.c.id.label("cursor"),
    outbox.c.public_id,
    outbox.c.purpose,
    outbox.c.channel,
    outbox.c.status,
    outbox.c.attempts,
    outbox.c.created_at,
    outbox.c.sent_at,
    DELIVERED_AT,
    outbox.c.dead_reason,
    outbox.c.refusal,
    outbox.c.last_error,
)


def messages_to(
    connection: Connection, address: str, *, before: int | None = None
) -> tuple[list[Sent], int | None]:
    """Every message to `address` (in its stored form), newest first, a page at a time, and
    the cursor of the next page (None at the end): the internal id of the last row shown."""
    query = _SENT.where(outbox.c.recipient == address)
    if before is not None:
        query = query.where(outbox.c.id < before)
    found = connection.execute(query.order_by(outbox.c.id.desc()).limit(LOOKUP_PAGE + 1)).all()
    page = found[:LOOKUP_PAGE]
    sent = [
        Sent(
            id=row.public_id,
            purpose=row.purpose,
            channel=row.channel,
            status=row.status,
            attempts=row.attempts,
            created_at=row.created_at,
            sent_at=row.sent_at,
            delivered_at=row.delivered_at,
            dead_reason=row.dead_reason,
            reason=failure_reason(row.status, row.dead_reason, row.refusal)
            if row.status in FAILED
            else None,
            last_error=row.last_error,
        )
        for row in page
    ]
    return sent, page[-1].cursor if len(found) > LOOKUP_PAGE else None


def accounts_of(
    connection: Connection, *, email: str | None = None, phone: str | None = None
) -> list[Account]:
    """The accounts holding `email` or `phone` (each in its stored form), oldest first."""
    given: list[ColumnElement[bool]] = []
    if email:
        given.append(users.c.email == email)
    if phone:
        given.append(users.c.phone == phone)
    if not given:
        return []
    rows = connection.execute(
        select(
            users.c.id,
            users.c.email,
            users.c.phone,
            users.c.status,
            users.c.created_at,
            users.c.activated_at,
            users.c.email_proven_at,
            users.c.phone_proven_at,
        )
        .where(or_(*given))
        .order_by(users.c.id)
    )
    return [
        Account(
            id=row.id,
            email=row.email,
            phone=row.phone,
            status=row.status,
            created_at=row.created_at,
            activated_at=row.activated_at,
            email_proven=row.email is not None and row.email_proven_at is not None,
            phone_proven=row.phone is not None and row.phone_proven_at is not None,
        )
        for row in rows
    ]


def history_of(
    connection: Connection, user_id: int, *, before: int | None = None
) -> tuple[list[Event], int | None] | None:
    """An account's events, newest first, a page at a time, with the next page's cursor;
    None if no account has this id."""
    if connection.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        return None
    return events_of(connection, user_id, before=before)


def account_holding(connection: Connection, address: str) -> Account | None:
    """The account holding `address` (an email address or a number, in its stored form), if
    any: one account at most holds an address (a pending account's, or a proven one); else
    the oldest that carries it unproven."""
    by_email = "@" in address
    accounts = accounts_of(
        connection,
        email=address if by_email else None,
        phone=None if by_email else address,
    )
    proven = "email_proven" if by_email else "phone_proven"
    held = [a for a in accounts if a.status == UserStatus.PENDING or getattr(a, proven)]
    found = held or accounts
    return found[0] if found else None


def look_up(connection: Connection, address: str, *, before: int | None = None) -> Lookup:
    """An address's account, a page of its messages and the account's newest events, read on
    one connection."""
    holder = account_holding(connection, address)
    by_email = "@" in address
    accounts = accounts_of(
        connection, email=address if by_email else None, phone=None if by_email else address
    )
    messages, next_cursor = messages_to(connection, address, before=before)
    history, older = events_of(connection, holder.id) if holder else ([], None)
    return Lookup(accounts, messages, next_cursor, history, older is not None)
