"""An account's own history: what happened to it, each event written in the transaction of what
it records, read by support newest first.

An event's `detail` is small and never holds a password, a code, a token or a hash of one:
`{"method": "password"}` for a password sign-in, good or failed (an address change asked with
a wrong password is a failed one); `{"channel": "email"|"sms"}` for a registration (the channel
it asked for) or a code asked for (the channel its message goes on); `{"method":
"address_change"}` for an activation by an address change's code (none for one by its own);
`{"field": "email"|"phone", "to": ADDRESS}` for an address change asked for (the new address,
which a code goes to) and `{"field", "from", "to"}` once changed (the old address, if there was
one, and the new: support is asked "which address did my account have"). Addresses of other
accounts never go in (a change to a taken address records `{"field", "refused":
"address_taken"}`), and every event goes with its account (erasure) or after
ACCOUNT_EVENTS_RETENTION_DAYS (the purge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from shared.database.driver import DriverStatement, bound
from shared.database.models import account_events
from shared.database.throttle import Along
from shared.messaging.outbox import Purpose

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import AccountEvent as AccountEvent

# The events one page of an account's history lists, on every face.
HISTORY_PAGE = 50


# The event a request for a code of each purpose records on the account it found (a resend of
# an activation code records none).
REQUESTED: dict[str, AccountEvent] = {
    Purpose.PASSWORD_RESET: AccountEvent.PASSWORD_RESET_REQUESTED,
    Purpose.LOGIN_CODE: AccountEvent.LOGIN_CODE_REQUESTED,
}
# The detail of a sign-in by password, and by code, good or failed.
BY_PASSWORD = {"method": "password"}
BY_CODE = {"method": "code"}


@dataclass(frozen=True)
class Event:
    """One event of an account's history, as support sees it."""

    type: AccountEvent
    at: datetime
    client: str | None
    detail: dict[str, str] | None


def record(
    connection: Connection,
    user_id: int,
    event: AccountEvent,
    *,
    now: datetime,
    client: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> None:
    """Add `event` to the account's history, in the caller's transaction: it is kept only if
    what it records is."""
    along = recording(user_id, event, now=now, client=client, detail=detail)
    _RECORD.run(connection, along.values)


def recording(
    user_id: int,
    event: AccountEvent,
    *,
    now: datetime,
    client: str | None = None,
    detail: Mapping[str, str] | None = None,
) -> Along:
    """`record`'s insert, for a limit's lock to carry (shared.database.throttle.Along): a sign-up's
    event then costs no round trip of its own."""
    values = {
        "user_id": user_id,
        "type": event,
        "at": now,
        "client": client,
        "detail": dict(detail) if detail is not None else None,
    }
    return Along((_INSERT,), {_PREFIX + name: value for name, value in values.items()})


# Its names bound with a prefix, so that it rides with another write in one statement.
_PREFIX = "event_"
_INSERT = insert(account_events).values(
    bound(account_events, ("user_id", "type", "at", "client", "detail"), _PREFIX)
)
_RECORD = DriverStatement(_INSERT)


# Read through `account_events_user_id` (migration 0024): the account's rows, newest first.
_EVENTS = select(
    account_events.c.id,
    account_events.c.type,
    account_events.c.at,
    account_events.c.client,
    account_events.c.detail,
)


def events_of(
    connection: Connection, user_id: int, *, before: int | None = None
) -> tuple[list[Event], int | None]:
    """The account's events, newest first, a page at a time, and the cursor of the next page
    (None at the end): the id of the last event shown."""
    query = _EVENTS.where(account_events.c.user_id == user_id)
    if before is not None:
        query = query.where(account_events.c.id < before)
    found = connection.execute(
        query.order_by(account_events.c.id.desc()).limit(HISTORY_PAGE + 1)
    ).all()
    page = found[:HISTORY_PAGE]
    events = [Event(row.type, row.at, row.client, row.detail) for row in page]
    return events, page[-1].id if len(found) > HISTORY_PAGE else None
