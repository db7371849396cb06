"""Invitations: an operator makes a pending account for one address and sends it its activation
code, whether sign-up is open or closed (SPEC "The application's say over sign-ups")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from shared.accounts.accounts import User, UserStatus, find_user, insert_user
from shared.accounts.addresses import sms_refusal
from shared.accounts.history import AccountEvent
from shared.accounts.history import record as record_event
from shared.accounts.sign_up import NO_PASSWORD_YET, first_activation
from shared.messaging.locales import DEFAULT
from shared.messaging.messages import Queueing
from shared.messaging.outbox import Channel
from shared.operations.audit import record


class InviteOutcome(StrEnum):
    """What an invitation did."""

    INVITED = "invited"
    # An account holds the address: nothing made, nothing sent.
    ACCOUNT_EXISTS = "account_exists"
    # A number no SMS goes to here (SMS_URL unset, a costly number, a region not allowed).
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Invitation:
    """An invitation's outcome, the account it made or found, and its code's message."""

    outcome: InviteOutcome
    # The account made, or the one holding the address (None if it went meanwhile).
    user_id: int | None = None
    # The public id of the activation code's message.
    delivery: str | None = None
    # Why no SMS can go to the number, when it is unreachable.
    reason: str | None = None


def invite(
    connection: Connection, deps: Queueing, address: str, *, actor: str, now: datetime
) -> Invitation:
    """Make a pending account holding `address` (an email address or an E.164 number, in its
    stored form) and queue its first activation code there, as a registration does; audited
    by the address's keyed hash (no address an erasure would have to find), and in the
    account's history.

    An address an account holds makes nothing and sends nothing: a pending account may be
    someone's pre-hijacking (their password, their other address), which a code from the
    operator would have the address's owner activate; an active one has nothing to activate.
    The operator is told which account holds it, as the admin lookup tells anyway.
    """
    channel = Channel.EMAIL if "@" in address else Channel.SMS
    invitation = _invitation(connection, deps, address, channel, now)
    if invitation.outcome == InviteOutcome.INVITED:
        assert invitation.user_id is not None
        detail = {"channel": channel, "by": actor}
        record_event(connection, invitation.user_id, AccountEvent.INVITED, now=now, detail=detail)
    details = {
        "outcome": invitation.outcome,
        "channel": channel,
        "address": deps.suppressor.of(connection).hash(address),
        "delivery": invitation.delivery,
    }
    target = None if invitation.user_id is None else str(invitation.user_id)
    record(connection, actor, "invite", target, details, now)
    return invitation


def _invitation(
    connection: Connection, deps: Queueing, address: str, channel: Channel, now: datetime
) -> Invitation:
    """The account made and its code queued, or why there is none."""
    settings = deps.settings
    if channel == Channel.SMS:
        refusal = (
            "SMS is not offered by this service."
            if settings.sms_url is None
            else sms_refusal(address, settings.sms_allowed_regions)
        )
        if refusal is not None:
            return Invitation(InviteOutcome.UNREACHABLE, reason=refusal)
    email, phone = (address, None) if channel == Channel.EMAIL else (None, address)
    user_id = insert_user(
        connection, now, password_hash=NO_PASSWORD_YET, email=email, phone=phone, locale=DEFAULT
    )
    if user_id is None:
        holder = find_user(connection, email, phone)
        return Invitation(InviteOutcome.ACCOUNT_EXISTS, holder.id if holder else None)
    user = User(user_id, email, phone, None, DEFAULT, UserStatus.PENDING)
    delivery = first_activation(deps, connection, user, cause=None, channel=channel, now=now)
    return Invitation(InviteOutcome.INVITED, user_id, delivery.id)
