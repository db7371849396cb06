"""Checking credentials for the application's backend: the answer is the same for a wrong
password, an unknown account and one not yet active, in shape and in time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from api_service.flows.commands import LogIn
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import InvalidCredentials, TooManyRequests
from api_service.flows.provisioning import require_provisioned
from shared.accounts.accounts import User, UserStatus, find_account, password_hash_of, set_password
from shared.accounts.history import BY_PASSWORD, AccountEvent, record
from shared.accounts.lockouts import failures_of, note_lockout
from shared.clock import utcnow
from shared.database.throttle import Limit
from shared.vocabulary import LockedOut

# Failed sign-ins one account (or one unknown identifier) may make in an hour: a counter of its
# own, which locks password sign-in only, never a code (SPEC "Codes": no one without the mail
# or the phone keeps its owner out).
LOGIN_FAILURES = Limit(100, 3600)
# The refusal once LOGIN_FAILURES is reached: the same whether the address has an account.
SIGN_INS_LOCKED = "Too many failed sign-ins for this account."


def log_in(deps: Dependencies, request: LogIn, sender: str) -> dict[str, Any]:
    """The account's id if the password is right and the account active; else a 401 problem
    (then, with LOGIN_REQUIRES_PROVISIONING, a 503 while the application has not answered the
    account's activation).

    Every path verifies a hash (a dummy one when there is no active account) and reads and
    writes the same rows, so that timing tells nothing either; an account's history (not an
    unknown address's) gains the sign-in, good or failed, with the client `sender`.
    """
    now = utcnow()
    subject = failures_of(request.identifier)
    with deps.unit_of_work() as uow:
        wait = deps.throttle.wait(uow.connection, [subject], [LOGIN_FAILURES], now)
        if wait:
            raise TooManyRequests(wait, SIGN_INS_LOCKED)
        user = find_account(uow.connection, request.email, request.phone)
        active = user is not None and user.status == UserStatus.ACTIVE
        stored = password_hash_of(uow.connection, user.id) if user is not None else None
    verifier = deps.verifier
    if not verifier.verify(stored if active else None, request.password) or user is None:
        with deps.unit_of_work() as uow:
            deps.throttle.record(uow.connection, [subject], now)
            if user is not None:
                _record(uow.connection, user.id, AccountEvent.LOGIN_FAILED, now, sender)
            _note_lockout(deps, uow.connection, user, subject, now, sender)
            uow.commit()
        raise InvalidCredentials
    assert stored is not None
    rehashed = verifier.hash(request.password) if verifier.needs_rehash(stored) else None
    with deps.unit_of_work() as uow:
        require_provisioned(deps, uow.connection, user.id, now)
        if rehashed is not None:
            set_password(uow.connection, user.id, rehashed)
        _record(uow.connection, user.id, AccountEvent.LOGIN_SUCCEEDED, now, sender)
        uow.commit()
    return {"user_id": user.id, "status": UserStatus.ACTIVE}


def _note_lockout(
    deps: Dependencies,
    connection: Connection,
    user: User | None,
    subject: str,
    now: datetime,
    sender: str,
) -> None:
    """If this failure locked password sign-in, the account's history says so."""
    note_lockout(
        deps.throttle,
        connection,
        user,
        subject,
        LOGIN_FAILURES,
        what=LockedOut.PASSWORD,
        now=now,
        client=sender,
    )


def _record(
    connection: Connection, user_id: int, event: AccountEvent, now: datetime, sender: str
) -> None:
    """Add a sign-in by password to the account's history."""
    record(connection, user_id, event, now=now, client=sender, detail=BY_PASSWORD)


def failed_sign_ins(user: User) -> list[str]:
    """The subjects counting failed sign-ins naming one of the user's addresses."""
    return [failures_of(address) for address in (user.email, user.phone) if address]
