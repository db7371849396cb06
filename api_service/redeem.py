"""Checking a code a client sent, with the per-code and per-account failure limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api_service.accounts import CodeCheck, User, find_account, use_code
from api_service.limits import ACCOUNT_FAILURES, too_many_requests
from api_service.problems import Problem
from api_service.services import Services
from api_service.unit_of_work import UnitOfWork


def redeem_code(
    services: Services, uow: UnitOfWork, data: dict[str, Any], *, purpose: str, now: datetime
) -> User:
    """The user whose live code for `purpose` this is; the code is spent in `uow`.

    Any other outcome counts a failure against the account, commits that count (the caller's
    unit of work holds nothing else yet) and answers 400, or 429 once the code has had its
    tries or the account its hourly failures.
    """
    connection = uow.connection
    user = find_account(connection, data)
    if user is None:
        raise _invalid_code()
    subject = [f"code-failures:{user.id}"]
    wait = services.throttle.wait(connection, subject, [ACCOUNT_FAILURES], now)
    if wait:
        raise too_many_requests(wait, "Too many wrong codes for this account; try again later.")
    outcome = use_code(
        connection,
        services.settings.secret_key,
        user_id=user.id,
        purpose=purpose,
        code=data["code"],
        now=now,
    )
    if outcome is CodeCheck.ACCEPTED:
        return user
    services.throttle.record(connection, subject, [ACCOUNT_FAILURES], now)
    uow.commit()
    if outcome is CodeCheck.EXHAUSTED:
        raise Problem(
            429,
            "code-exhausted",
            "Too many tries",
            "This code was tried too many times and no longer works; ask for a new one.",
        )
    raise _invalid_code()


def _invalid_code() -> Problem:
    return Problem(400, "invalid-code", "Invalid code", "The code is wrong or has expired.")
