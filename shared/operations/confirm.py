"""Confirming an address by hand (SPEC "Confirm by hand"): support that has checked the person
another way proves the address as a used code would, and activates the account if pending."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from shared.accounts.accounts import (
    ADDRESS_FIELDS,
    User,
    UserStatus,
    activate_user,
    change_address,
    prove_address,
    user_by_id,
)
from shared.accounts.activation import follow_activation
from shared.accounts.address_proof import take_address
from shared.accounts.history import AccountEvent
from shared.accounts.history import record as record_event
from shared.accounts.verification import supersede
from shared.messaging.messages import Queueing
from shared.messaging.outbox import Purpose
from shared.operations.audit import record


class ConfirmOutcome(StrEnum):
    """What a confirmation did: the first two proved the address, the rest did nothing."""

    ACTIVATED = "activated"
    PROVEN = "proven"
    ALREADY_PROVEN = "already_proven"
    NO_ADDRESS = "no_address"
    TAKEN = "taken"
    CONTESTED = "contested"
    NOT_FOUND = "not_found"


# Each outcome in words, as every face names it.
CONFIRM_WORDS: dict[ConfirmOutcome, str] = {
    ConfirmOutcome.ACTIVATED: "address proven, account activated",
    ConfirmOutcome.PROVEN: "address proven",
    ConfirmOutcome.ALREADY_PROVEN: "address already proven; nothing done",
    ConfirmOutcome.NO_ADDRESS: "the account has no such address; nothing done",
    ConfirmOutcome.TAKEN: "another account holds the address; nothing done",
    ConfirmOutcome.CONTESTED: (
        "two sign-ups with other passwords named it: its owner activates with the code and "
        "the password they choose; nothing done"
    ),
    ConfirmOutcome.NOT_FOUND: "no such account",
}


@dataclass(frozen=True)
class Confirmation:
    """What confirming an account's `address` (`email` or `phone`) did, and the account's
    status after (None: no such account)."""

    user_id: int
    address: str
    outcome: ConfirmOutcome
    status: UserStatus | None


def confirm_address(
    connection: Connection,
    deps: Queueing,
    user_id: int,
    field: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Confirmation:
    """Prove the account's email or phone (`field`) as a used code would: it leaves the
    accounts that carried it unproven, and a pending account is activated (welcomed, and
    `account.activated` sent). Audited with who and why; the account's history says
    `confirmed_by_operator`.

    A contested pending account is left alone: which password it keeps is its owner's to
    choose (SPEC "Proof of address"), with the code and the password.
    """
    if field not in ADDRESS_FIELDS:
        raise ValueError(f"not an address field: {field!r}")
    user = user_by_id(connection, user_id)
    if user is None:
        return Confirmation(user_id, field, ConfirmOutcome.NOT_FOUND, None)
    outcome = _confirm(connection, deps, user, field, actor, now)
    details = {"address": field, "reason": reason, "outcome": outcome}
    record(connection, actor, "confirm_address", str(user_id), details, now)
    activated = outcome == ConfirmOutcome.ACTIVATED
    return Confirmation(user_id, field, outcome, UserStatus.ACTIVE if activated else user.status)


def _confirm(
    connection: Connection, deps: Queueing, user: User, field: str, actor: str, now: datetime
) -> ConfirmOutcome:
    address = user.email if field == "email" else user.phone
    pending = user.status == UserStatus.PENDING
    if address is None:
        return ConfirmOutcome.NO_ADDRESS
    if user.proven(address):
        return ConfirmOutcome.ALREADY_PROVEN
    if pending and user.contested:
        return ConfirmOutcome.CONTESTED
    if pending:
        # A pending account holds its addresses already: no other can hold this one.
        prove_address(connection, user.id, address, now)
    elif not change_address(connection, user.id, field, address, now):
        # An active account's unproven address, meanwhile held by another (pending) account.
        return ConfirmOutcome.TAKEN
    take_address(deps, connection, user.id, field, address, now)
    detail = {"field": field, "by": actor}
    record_event(connection, user.id, AccountEvent.CONFIRMED_BY_OPERATOR, now=now, detail=detail)
    proven = user.proven_at(address, now)
    if not (pending and activate_user(connection, user.id, now)):
        return ConfirmOutcome.PROVEN
    supersede(connection, user.id, Purpose.ACTIVATION)
    active = replace(proven, status=UserStatus.ACTIVE)
    by_hand = {"method": "confirmed_by_operator"}
    follow_activation(deps, connection, active, cause=None, now=now, detail=by_hand)
    return ConfirmOutcome.ACTIVATED
