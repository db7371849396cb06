"""Checking a code a client sent, with the per-code and per-account failure limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api_service.flows.commands import CodeEntry
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import CodeExhausted, InvalidCode, TooManyRequests
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts.accounts import User, find_account, prove_address
from shared.accounts.address_proof import take_address
from shared.accounts.history import BY_CODE, AccountEvent, record
from shared.accounts.lockouts import WRONG_CODES, failures_of, note_lockout, wrong_codes_of
from shared.accounts.verification import sent_to, use_code
from shared.database.throttle import Limit, code_tries
from shared.messaging.outbox import Purpose
from shared.secrets.codes import MAX_CODE_TRIES
from shared.vocabulary import LockedOut

# The refusal of a code past the account's wrong codes of a day.
TOO_MANY_WRONG_CODES = "Too many wrong codes for this account; try later."


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
    purpose: Purpose,
    now: datetime,
    address: str | None = None,
    client: str | None = None,
) -> Redeemed:
    """The user whose live code for `purpose` this is (sent to `address`, for a code bound to
    one); the code is spent in `uow`, and the address it was sent to is proven, if the
    account holds it already (an address change's is proven as it is given), and leaves the
    accounts that carried it unproven.

    A wrong code answers 400 and counts a try against each address named, and a wrong code
    against the account if there is one (a wrong sign-in code is also a failed sign-in, in the
    account's history with its `client`); those counts are committed at once (the caller's
    unit of work holds nothing else yet). After five tries on an address, or the account's
    hundred wrong codes in a day, a code is answered 429. The tries are counted per address
    named, for unknown addresses too, so that 400 and 429 come in the same order whether or
    not an account exists. A link token in the code's place is never refused for what others
    guessed (SPEC "Codes": no one without the mail keeps its owner out): a wrong one is a 400
    that counts nothing.
    """
    connection = uow.connection
    user = _within_limits(deps, uow, request, purpose, now)
    spent = use_code(
        connection,
        deps.settings.secret_keys,
        user_id=user.id if user is not None else None,
        purpose=purpose,
        code=request.code,
        now=now,
        address=address,
        link_token=request.token,
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
    if request.token is None:
        _count_wrong_code(deps, uow, request, purpose, user, now, client)
    raise InvalidCode


def _within_limits(
    deps: Dependencies, uow: UnitOfWork, request: CodeEntry, purpose: Purpose, now: datetime
) -> User | None:
    """The account the request names, once a code (not a link token) is within its limits:
    five tries an address, a hundred wrong codes an account in a day; else 429."""
    connection = uow.connection
    guessing = request.token is None
    tries = code_tries(purpose, request.addresses)
    per_code = [Limit(MAX_CODE_TRIES, deps.settings.code_ttl(purpose))]
    wait = deps.throttle.wait(connection, tries, per_code, now) if guessing else 0
    if wait:
        raise CodeExhausted(wait)
    user = find_account(connection, request.email, request.phone)
    wait = deps.throttle.wait(connection, [_wrong_codes(user, request)], [WRONG_CODES], now)
    if wait and guessing:
        raise TooManyRequests(wait, TOO_MANY_WRONG_CODES)
    return user


def _count_wrong_code(
    deps: Dependencies,
    uow: UnitOfWork,
    request: CodeEntry,
    purpose: Purpose,
    user: User | None,
    now: datetime,
    client: str | None,
) -> None:
    """Count a wrong code against the addresses named and the account, and commit; the try
    that fills the account's day is in its history."""
    connection = uow.connection
    account = _wrong_codes(user, request)
    subjects = [account, *code_tries(purpose, request.addresses)]
    if purpose == Purpose.LOGIN_CODE:
        # A wrong sign-in code is a failed sign-in, as a wrong password is (SPEC /v1/logins).
        subjects.append(failures_of(request.identifier))
    deps.throttle.record(connection, subjects, now)
    if user is not None and purpose == Purpose.LOGIN_CODE:
        event = AccountEvent.LOGIN_FAILED
        record(connection, user.id, event, now=now, client=client, detail=BY_CODE)
    note_lockout(
        deps.throttle,
        connection,
        user,
        account,
        WRONG_CODES,
        what=LockedOut.CODE,
        now=now,
        client=client,
    )
    uow.commit()


def _wrong_codes(user: User | None, request: CodeEntry) -> str:
    """The subject a wrong code counts against: the account's, or an unknown request's
    addresses' (so that both paths run alike)."""
    return wrong_codes_of(str(user.id) if user is not None else "|".join(request.addresses))
