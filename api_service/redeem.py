"""Checking a code a client sent, with the per-code and per-account failure limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api_service.limits import ACCOUNT_FAILURES, code_tries, too_many_requests
from api_service.problems import Problem
from api_service.services import Services
from api_service.throttle import Limit
from api_service.unit_of_work import UnitOfWork
from shared.accounts import User, find_account, requested_addresses, use_code
from shared.codes import MAX_CODE_TRIES


def redeem_code(
    services: Services, uow: UnitOfWork, data: dict[str, Any], *, purpose: str, now: datetime
) -> User:
    """The user whose live code for `purpose` this is; the code is spent in `uow`.

    Any other outcome answers 400 and counts a try against each address named, and a failure
    against the account if there is one; those counts are committed at once (the caller's unit
    of work holds nothing else yet). After five tries on an address, or a hundred failures of
    the account in an hour, the answer is 429. The tries are counted per address named, for
    unknown addresses too, so that 400 and 429 come in the same order whether or not an
    account exists; the code itself also dies after five wrong tries.
    """
    connection = uow.connection
    tries = code_tries(purpose, requested_addresses(data))
    per_code = [Limit(MAX_CODE_TRIES, services.settings.code_ttl(purpose))]
    if services.throttle.wait(connection, tries, per_code, now):
        raise Problem(
            429,
            "code-exhausted",
            "Too many tries",
            "Too many wrong codes were sent; ask for a new code.",
        )
    user = find_account(connection, data)
    if user is not None:
        failures = [f"code-failures:{user.id}"]
        wait = services.throttle.wait(connection, failures, [ACCOUNT_FAILURES], now)
        if wait:
            raise too_many_requests(wait, "Too many wrong codes for this account; try later.")
        code = data["code"]
        secret_key = services.settings.secret_key
        if use_code(connection, secret_key, user_id=user.id, purpose=purpose, code=code, now=now):
            return user
        services.throttle.record(connection, failures, now)
    services.throttle.record(connection, tries, now)
    uow.commit()
    raise Problem(400, "invalid-code", "Invalid code", "The code is wrong or has expired.")
