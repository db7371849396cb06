"""An address proven by one account leaves every account that carried it without proving it
(SPEC "An unproven address holds nothing"), in the transaction of the proof."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.accounts.history import AccountEvent, record
from shared.accounts.unproven import release_address
from shared.messaging.events import EventType, announce
from shared.messaging.messages import Queueing


def take_address(
    deps: Queueing, connection: Connection, keeper: int, field: str, address: str, now: datetime
) -> None:
    """Remove `address` (the `field` of it) from the accounts other than `keeper` that never
    proved it: each one's history says so, and its application hears
    `account.address_removed`."""
    for loser in release_address(connection, field, address, keeper):
        record(connection, loser.id, AccountEvent.ADDRESS_REMOVED, now=now, detail={"field": field})
        left = loser.without(field)
        announce(deps, connection, left, EventType.ACCOUNT_ADDRESS_REMOVED, now=now, removed=field)
