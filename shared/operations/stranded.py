"""Stranded accounts: pending ones whose activation cannot arrive, and their fresh codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from shared.accounts.accounts import User, UserStatus, user_by_id
from shared.accounts.lockouts import restart_code_tries
from shared.accounts.reaching import address_for, email_or_sms
from shared.database.models import outbox, suppressions, users, verification_tokens
from shared.messaging.events import EventType
from shared.messaging.messages import Queueing, send_code
from shared.messaging.outbox import Channel, Purpose, Status
from shared.messaging.transitions import Resolution, resolve
from shared.operations.audit import record
from shared.operations.dead_letters import DEAD_STATUSES, DeadFilter
from shared.secrets.codes import CodeStatus


class Remedy(StrEnum):
    """What brings a stranded account back; each face says where it is done."""

    REISSUE = "reissue"  # a fresh activation code
    REMOVE_SUPPRESSION = "remove_suppression"  # lift the address's suppression, then reissue
    RETRY_EVENT = "retry_event"  # retry the dead account.activated event


@dataclass(frozen=True)
class StrandedAccount:
    """A pending account whose activation cannot arrive or no longer works."""

    user_id: int
    email: str | None
    phone: str | None
    created_at: datetime
    delivery: str
    why: str
    remedy: Remedy
    reissuable: bool  # a fresh activation code can reach it now
    recipient: str
    suppression_id: int | None = None


class ReissueOutcome(StrEnum):
    """What a reissue did: sent a fresh code, or why it sent nothing."""

    FRESH_CODE = "fresh_code"
    NOT_PENDING = "not_pending"
    SUPPRESSED = "suppressed"


# Each outcome in words, as every face names it.
REISSUE_WORDS: dict[ReissueOutcome, str] = {
    ReissueOutcome.FRESH_CODE: "fresh activation code queued",
    ReissueOutcome.NOT_PENDING: "account not pending; nothing sent",
    ReissueOutcome.SUPPRESSED: "address suppressed; nothing sent",
}


@dataclass(frozen=True)
class Reissue:
    """What a reissue did, and the new delivery when it sent one."""

    outcome: ReissueOutcome
    delivery: str | None = None


# What a stranded account is shown with: the account, and the message that stranded it.
_SHOWN = (
    users.c.id,
    users.c.email,
    users.c.phone,
    users.c.created_at,
    outbox.c.public_id,
    outbox.c.dead_reason,
    outbox.c.recipient,
)


def stranded(
    connection: Connection, now: datetime, *, limit: int = 500, gated: bool = False
) -> list[StrandedAccount]:
    """Pending accounts whose latest activation message died, or whose code expired or died;
    and active accounts whose activation the application never heard of (`gated`: which
    LOGIN_REQUIRES_PROVISIONING keeps from signing in until it does)."""
    # The account's latest activation, found from the account (an index of activations by
    # account): the pending accounts are read oldest first and the read stops at `limit`
    # (a join on the latest ids of all accounts, or an anti-join, read every activation).
    later = outbox.alias("later")
    latest = (
        select(func.max(later.c.id))
        .where(later.c.user_id == users.c.id, later.c.purpose == Purpose.ACTIVATION)
        .scalar_subquery()
    )
    found = connection.execute(
        select(
            *_SHOWN,
            outbox.c.status,
            verification_tokens.c.status.label("code_status"),
            verification_tokens.c.expires_at,
            suppressions.c.reason.label("suppressed"),
            suppressions.c.id.label("suppression_id"),
        )
        .select_from(
            users.join(outbox, outbox.c.id == latest)
            .outerjoin(verification_tokens, verification_tokens.c.id == outbox.c.token_id)
            .outerjoin(suppressions, suppressions.c.address == outbox.c.recipient)
        )
        .where(
            users.c.status == UserStatus.PENDING,
            or_(
                outbox.c.status.in_(DEAD_STATUSES),
                verification_tokens.c.status == CodeStatus.DEAD,
                verification_tokens.c.expires_at <= now,
            ),
        )
        .order_by(users.c.created_at)
        .limit(limit)
    ).all()
    # A reissue to a suppressed address would die at once: the operator lifts it first.
    return [
        _stranded_account(
            r,
            f"address suppressed ({r.suppressed})"
            if r.suppressed
            else "message bounced"
            if r.status == Status.BOUNCED
            else f"message dead ({r.dead_reason})"
            if r.status == Status.DEAD
            else "code tried too often"
            if r.code_status == CodeStatus.DEAD
            else "code expired",
            Remedy.REMOVE_SUPPRESSION if r.suppressed else Remedy.REISSUE,
            suppression_id=r.suppression_id,
        )
        for r in found
    ] + _unprovisioned(connection, limit=limit, gated=gated)


def _stranded_account(
    r: Any, why: str, remedy: Remedy, *, suppression_id: int | None = None
) -> StrandedAccount:
    """A row of users joined to its message, as a stranded account, why, and its remedy."""
    return StrandedAccount(
        user_id=r.id,
        email=r.email,
        phone=r.phone,
        created_at=r.created_at,
        delivery=r.public_id,
        why=why,
        remedy=remedy,
        reissuable=remedy == Remedy.REISSUE,
        recipient=r.recipient,
        suppression_id=suppression_id,
    )


# What an unprovisioned account can do meanwhile, with LOGIN_REQUIRES_PROVISIONING and without.
_MEANWHILE = {
    True: "it cannot sign in until the application answers",
    False: "it signs in unprovisioned unless the application gates its own logins",
}


def _unprovisioned(connection: Connection, *, limit: int, gated: bool) -> list[StrandedAccount]:
    """Active accounts whose `account.activated` event died: the application never heard of
    the activation (what it provisions then was never done); retrying the event sends it again."""
    found = connection.execute(
        select(*_SHOWN)
        .select_from(users.join(outbox, outbox.c.user_id == users.c.id))
        .where(
            users.c.status == UserStatus.ACTIVE,
            outbox.c.purpose == EventType.ACCOUNT_ACTIVATED,
            outbox.c.status == Status.DEAD,
            outbox.c.resolution.is_(None),
        )
        .order_by(users.c.created_at)
        .limit(limit)
    ).all()
    return [
        _stranded_account(
            r,
            f"account.activated event dead ({r.dead_reason}): {_MEANWHILE[gated]}",
            Remedy.RETRY_EVENT,
        )
        for r in found
    ]


def reissue_activation(
    connection: Connection, deps: Queueing, user_id: int, *, actor: str, now: datetime
) -> Reissue:
    """Send a pending account a fresh activation code, unless its address is suppressed: the
    message would die at once, and fire another `delivery.failed`."""
    user = user_by_id(connection, user_id)
    result = Reissue(ReissueOutcome.NOT_PENDING)
    if user is not None and user.status == UserStatus.PENDING:
        channel = _activation_channel(connection, user)
        address = address_for(user, channel)
        suppressor = deps.suppressor.of(connection)
        if address is not None and suppressor.among(connection, [address]):
            result = Reissue(ReissueOutcome.SUPPRESSED)
        else:
            purpose = Purpose.ACTIVATION
            delivery = send_code(
                deps, connection, user, cause=None, purpose=purpose, channel=channel, now=now
            )
            restart_code_tries(deps.throttle, connection, user, purpose=Purpose.ACTIVATION)
            # The dead activations it replaces are dealt with: no longer counted or listed.
            replaced = and_(
                outbox.c.user_id == user.id,
                outbox.c.purpose == Purpose.ACTIVATION,
                *DeadFilter().conditions(),
            )
            resolve(connection, replaced, Resolution.RETRIED, now, replaced_by=delivery.id)
            result = Reissue(ReissueOutcome.FRESH_CODE, delivery.id)
    details = {"outcome": result.outcome, "delivery": result.delivery}
    record(connection, actor, "reissue_activation", str(user_id), details, now)
    return result


def _activation_channel(connection: Connection, user: User) -> Channel:
    """The channel of the account's latest activation while it still has an address there,
    else email if it has one, else SMS."""
    channel = connection.execute(
        select(outbox.c.channel)
        .where(outbox.c.user_id == user.id, outbox.c.purpose == Purpose.ACTIVATION)
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if channel is None or address_for(user, channel) is None:
        return email_or_sms(user.email)
    return Channel(channel)
