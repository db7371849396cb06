"""One-click unsubscribe (RFC 8058) from a "no account" notice: its address suppressed."""

from __future__ import annotations

from api_service.flows.dependencies import Dependencies
from shared.clock import utcnow

# What an entry says of itself: why the address is kept from every message, and who asked.
REASON = "unsubscribed"
SOURCE = "unsubscribe"


def unsubscribe(deps: Dependencies, token: str) -> bool:
    """Suppress the address the token of an unsubscribe link names; False for a token no key
    of ours made. Following the link twice changes nothing more."""
    address = deps.unsubscribe.address(token)
    if address is None:
        return False
    with deps.unit_of_work() as uow:
        suppressor = deps.suppressor.of(uow.connection)
        suppressor.add(uow.connection, address, reason=REASON, source=SOURCE, now=utcnow())
        uow.commit()
    return True
