"""A code sent again on the account's other channel when its message cannot arrive (SPEC "The
other channel when a code cannot arrive"): written in the transaction that records why (the
relay's, or a provider's report of a bounce after it took the message), once a code, under every
budget and the proof-of-address rules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from shared.accounts.accounts import User, user_by_id
from shared.accounts.addresses import phone_region
from shared.accounts.reaching import address_for
from shared.database.models import outbox, verification_tokens
from shared.database.throttle import Limit, Throttle, sms_region
from shared.messaging.budgets import bucket, recipient_hour, region_limits
from shared.messaging.messages import Queueing, send_code
from shared.messaging.outbox import ANSWERS_AS, DISCREET, PAID_BY, Channel, Purpose
from shared.messaging.refusals import CONSEQUENCES, FailureReason, Refusal
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.codes import CodeStatus
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.vocabulary import UserStatus

log = logging.getLogger(__name__)

# The codes that fall back; an address change's proves one address, which no other can stand for.
FALLS_BACK = frozenset({Purpose.ACTIVATION, Purpose.PASSWORD_RESET, Purpose.LOGIN_CODE})


class OverBudget(Exception):
    """A fallback's message would pass a budget: none goes."""


@dataclass(frozen=True)
class FallbackCause:
    """The relay's fallback as the cause of its message: it takes its recipient's hour for its
    purpose and, by SMS, its region's hour and the hour of the client whose request wrote the
    first code (`paid_by`), or goes nowhere (OverBudget).

    Not the recipient's cooldown, which spaces a client's requests: the request that named the
    address took it for the message this one is (a registration names its phone), and the
    fallback follows within it."""

    throttle: Throttle
    settings: Settings
    discreet: bool
    paid_by: str | None

    def admit(
        self,
        connection: Connection,
        recipient: str,
        *,
        channel: Channel,
        purpose: Purpose,
        withhold: bool,
        now: datetime,
    ) -> bool:
        """Take the message's budgets, or raise OverBudget; whether it is withheld (unchanged)."""
        budgets: list[tuple[list[str], Sequence[Limit]]] = [
            ([bucket(purpose, recipient)], [recipient_hour(self.settings)])
        ]
        if channel == Channel.SMS:
            budgets.append(([sms_region(phone_region(recipient))], region_limits(self.settings)))
        if channel == Channel.SMS and self.paid_by is not None:
            budgets.append(([self.paid_by], [Limit(self.settings.sms_client_hourly_limit, 3600)]))
        for subjects, limits in budgets:
            if self.throttle.take(connection, subjects, limits, now):
                raise OverBudget
        return withhold


@dataclass(frozen=True)
class FallbackWriter:
    """What writing a fallback needs (shared.messaging.messages.Queueing), built once by the relay
    and by each report by mail it reads."""

    settings: Settings
    box: SecretBox
    throttle: Throttle
    suppressor: LazySuppressor


# The first message's fallback taken: once, whatever comes of it.
_TAKE = (
    update(outbox)
    .where(outbox.c.fallback_at.is_(None))
    .returning(
        outbox.c.public_id,
        outbox.c.user_id,
        outbox.c.purpose,
        outbox.c.channel,
        outbox.c.token_id,
        outbox.c.params,
    )
)


def refuses_address(refusal: Refusal | None) -> bool:
    """Whether a permanent failure refused its address: another address would reach them."""
    return refusal is not None and CONSEQUENCES[refusal].reason is FailureReason.ADDRESS_REJECTED


def after_report(
    deps: Queueing,
    connection: Connection,
    message_id: int,
    refusal: Refusal | None,
    now: datetime,
) -> str | None:
    """The fallback of a message a provider's report failed after the provider took it (a
    bounce after `250`): as when the relay meets the refusal itself, at once when the report
    refused the address; the fallback's public id, None when none goes."""
    if deps.settings.code_fallback_after is None or not refuses_address(refusal):
        return None
    return send_fallback(deps, connection, message_id, now)


def send_fallback(
    deps: Queueing, connection: Connection, message_id: int, now: datetime
) -> str | None:
    """Send the code of message `message_id` again, a new code of its purpose on the account's
    other channel, the first code left valid; the fallback's public id, None when none goes
    (none once the message has had its decision: one fallback a code)."""
    first = connection.execute(
        _TAKE.where(outbox.c.id == message_id).values(fallback_at=now)
    ).one_or_none()
    if first is None:
        return None
    fallback = _other_channel(deps, connection, message_id, first, now)
    log.info(
        "code fallback %s",
        "queued" if fallback is not None else "not sent",
        extra={"id": first.public_id, "purpose": first.purpose, "fallback": fallback},
    )
    return fallback


def _other_channel(
    deps: Queueing, connection: Connection, message_id: int, first: Row[Any], now: datetime
) -> str | None:
    """The fallback of the message `first`; None for a code that no longer works, to an account
    without an address there, by SMS where it is not offered, past a budget, or against the
    proof-of-address rules."""
    if first.purpose not in FALLS_BACK or not _live(connection, first.token_id, now):
        return None
    user = user_by_id(connection, first.user_id)
    other = Channel.SMS if first.channel == Channel.EMAIL else Channel.EMAIL
    address = address_for(user, other) if user is not None else None
    if user is None or address is None or not may_reach(user, first.purpose, address):
        return None
    if other == Channel.SMS and deps.settings.sms_url is None:
        return None  # SMS is not offered: the number would wait for a provider to its horizon
    params = first.params or {}
    paid_by = deps.box.open(params[PAID_BY])["subject"] if PAID_BY in params else None
    cause = FallbackCause(deps.throttle, deps.settings, bool(params.get(DISCREET)), paid_by)
    savepoint = connection.begin_nested()
    try:
        delivery = send_code(
            deps,
            connection,
            user,
            cause=cause,
            purpose=first.purpose,
            channel=other,
            now=now,
            first=True,
            answers_as=params.get(ANSWERS_AS),
        )
    except OverBudget:
        savepoint.rollback()
        return None
    savepoint.commit()
    connection.execute(
        update(outbox).where(outbox.c.public_id == delivery.id).values(fallback_at=now)
    )
    connection.execute(
        update(outbox).where(outbox.c.id == message_id).values(fallback_id=delivery.id)
    )
    return delivery.id


def may_reach(user: User, purpose: Purpose, address: str) -> bool:
    """Whether a fallback of `purpose` may go to `address`: an activation code to any address
    of a pending account (using it proves that address), a reset or sign-in code only to one
    the account proved."""
    if purpose == Purpose.ACTIVATION:
        return user.status == UserStatus.PENDING
    return user.proven(address)


def _live(connection: Connection, token_id: int | None, now: datetime) -> bool:
    """Whether the first message's code still works."""
    found = connection.execute(
        select(verification_tokens.c.id).where(
            verification_tokens.c.id == token_id,
            verification_tokens.c.status == CodeStatus.ACTIVE,
            verification_tokens.c.expires_at > now,
        )
    ).first()
    return found is not None
