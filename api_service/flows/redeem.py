"""Checking a code a client sent, with the per-code and per-account failure limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api_service.flows.address_proof import take_address
from api_service.flows.commands import CodeEntry
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import CodeExhausted, InvalidCode, TooManyRequests
from api_service.flows.limits import ACCOUNT_FAILURES
from api_service.flows.login import LOGIN_FAILURES, failures_of
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts import User, find_account, prove_address
from shared.codes import MAX_CODE_TRIES
from shared.history import BY_CODE, AccountEvent, record
from shared.outbox import Purpose
from shared.throttle import Limit, code_tries
from shared.verification import sent_to, use_code


@dataclass(frozen=True)
class Redeemed:
    """A spent code's account, and the address the code was sent to (None: not known)."""

    user: User
    address: str | None


def redeem_code(
    deps: Dependencies,
    uow: UnitOfWork,
    request: CodeEntry,
    *,
    purpose: str,
    now: datetime,
    address: str | None = None,
    client: str | None = None,
) -> Redeemed:
    """The user whose live code for `purpose` this is (sent to `address`, for a code bound to
    one); the code is spent in `uow`, and the address it was sent to is proven, if the
    account holds it already (an address change's is proven as it is given), and leaves the
    accounts that carried it unproven.

    Any other outcome answers 400 and counts a try against each address named, and a failure
    against the account if there is one; those counts are committed at once (the caller's unit
    of work holds nothing else yet). After five tries on an address, or a hundred failures of
    the account in an hour, the answer is 429. The tries are counted per address named, for
    unknown addresses too, so that 400 and 429 come in the same order whether or not an
    account exists; the code itself also dies after five wrong tries. A wrong sign-in code is
    a failed sign-in, in the account's history with its `client`.
    """
    connection = uow.connection
    tries = code_tries(purpose, request.addresses)
    per_code = [Limit(MAX_CODE_TRIES, deps.settings.code_ttl(purpose))]
    wait = deps.throttle.wait(connection, tries, per_code, now)
    if wait:
        raise CodeExhausted(wait)
    user = find_account(connection, request.email, request.phone)
    failures, limit, refusal = _failures(purpose, user, request)
    wait = deps.throttle.wait(connection, failures, [limit], now)
    if wait:
        raise TooManyRequests(wait, refusal)
    user_id = user.id if user is not None else None
    secret_keys = deps.settings.secret_keys
    spent = use_code(
        connection,
        secret_keys,
        user_id=user_id,
        purpose=purpose,
        code=request.code,
        now=now,
        address=address,
    )
    if spent is not None:
        assert user is not None
        sent = sent_to(connection, spent)
        if sent is not None:
            proven = prove_address(connection, user.id, sent, now)
            if proven is not None:
                take_address(deps, connection, user.id, proven, sent, now)
            deps.suppressor.of(connection).lift_unsubscribed(connection, sent)
        return Redeemed(user.proven_at(sent, now), sent)
    deps.throttle.record(connection, failures + tries, now)
    if purpose == Purpose.LOGIN_CODE and user is not None:
        event = AccountEvent.LOGIN_FAILED
        record(connection, user.id, event, now=now, client=client, detail=BY_CODE)
    uow.commit()
    raise InvalidCode


def _failures(purpose: str, user: User | None, request: CodeEntry) -> tuple[list[str], Limit, str]:
    """The subjects a wrong code counts against, their limit, and the refusal past it: a
    sign-in code's are the failed sign-ins of the address (shared with /v1/logins), any other
    code's the account's wrong codes. An unknown address counts under its own name, so both
    paths run alike."""
    if purpose == Purpose.LOGIN_CODE:
        return (
            [failures_of(request.identifier)],
            LOGIN_FAILURES,
            "Too many failed sign-ins for this account.",
        )
    subject = str(user.id) if user is not None else "|".join(request.addresses)
    return (
        [f"code-failures:{subject}"],
        ACCOUNT_FAILURES,
        "Too many wrong codes for this account; try later.",
    )
