"""What locks an account's sign-ins (SPEC "Codes"): failed password sign-ins naming an address,
which lock password sign-in only, and wrong codes, bounded per account over a day, past which
codes are taken only as their mails' link tokens; the account's history shows a lockout when
it starts, and an operator lifts both (shared.operations.unlock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.accounts.accounts import User
from shared.accounts.history import AccountEvent, record
from shared.database.throttle import Limit, Throttle, code_tries
from shared.messaging.outbox import CODED
from shared.vocabulary import LockedOut, Purpose

# Wrong codes one account may have in a day, across all its codes (sign-in codes included):
# guessing has no unbounded budget, and past it the mails' link tokens still work.
WRONG_CODES = Limit(100, 86400)


def failures_of(identifier: str | None) -> str:
    """The subject counting failed sign-ins naming `identifier`."""
    return f"login-failures:{identifier}"


def wrong_codes_of(account: str) -> str:
    """The subject counting the wrong codes of `account` (its id, or an unknown request's
    addresses: both paths run alike)."""
    return f"code-failures:{account}"


def locks_of(user: User) -> list[str]:
    """Every subject whose count can lock the user out: failed sign-ins naming one of their
    addresses, their wrong codes, and the tries at a code of each purpose on each address."""
    addresses = [address for address in (user.email, user.phone) if address]
    return [
        *(failures_of(address) for address in addresses),
        wrong_codes_of(str(user.id)),
        *(tries for purpose in CODED for tries in code_tries(purpose, addresses)),
    ]


def restart_code_tries(
    throttle: Throttle, connection: Connection, user: User, *, purpose: Purpose
) -> None:
    """Let the user's addresses try codes for `purpose` afresh, after an operator sent one.

    The public routes do the same when they let a message through (`limit_recipients`);
    without it, a code an operator sends to an account that used up its tries is refused.
    """
    addresses = [address for address in (user.email, user.phone) if address]
    throttle.forget(connection, code_tries(purpose, addresses))


def note_lockout(
    throttle: Throttle,
    connection: Connection,
    user: User | None,
    subject: str,
    limit: Limit,
    *,
    what: LockedOut,
    now: datetime,
    client: str | None,
) -> None:
    """After a failure counted against `subject`: if it filled `limit`, the account's history
    says what is locked and until when (operators see it, and may lift it). Read without an
    account too (`user` None), so that a failure naming no account takes as long."""
    wait = throttle.wait(connection, [subject], [limit], now)
    if wait and user is not None:
        until = (now + timedelta(seconds=wait)).isoformat(timespec="seconds")
        detail = {"method": what.value, "until": until}
        record(connection, user.id, AccountEvent.LOCKED_OUT, now=now, client=client, detail=detail)
