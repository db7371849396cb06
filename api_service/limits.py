"""Which limits apply to what, and how a refusal is answered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from flask import g
from sqlalchemy import Connection

from api_service.problems import Problem
from api_service.services import Services
from api_service.throttle import Limit

# Failed code attempts one account may make in an hour, across all its codes.
ACCOUNT_FAILURES = Limit(100, 3600)
CLIENT_WINDOW_SECONDS = 60


def too_many_requests(wait: int, detail: str) -> Problem:
    """A 429 telling the client how long to wait."""
    return Problem(
        429,
        "too-many-requests",
        "Too Many Requests",
        detail,
        headers={"Retry-After": str(max(wait, 1))},
    )


def limit_recipients(
    services: Services,
    connection: Connection,
    purpose: str,
    addresses: Iterable[str],
    now: datetime,
) -> None:
    """Count a message of `purpose` to each address named in the request, or answer 429.

    The addresses are the ones the client named, whatever the channel and whether or not an
    account owns them, so the answer reveals nothing about who has an account. A message let
    through may carry a new code, so the tries counted against these addresses start again.
    """
    limits = _recipient_limits(services)
    addresses = list(addresses)
    wait = services.throttle.take(connection, [f"{purpose}:{a}" for a in addresses], limits, now)
    if wait:
        raise too_many_requests(wait, "A message was sent to this address recently.")
    services.throttle.clear(connection, code_tries(purpose, addresses))


def recipient_wait(
    services: Services, connection: Connection, purpose: str, address: str, now: datetime
) -> int:
    """Seconds until a message of `purpose` to `address` would pass its limits; 0 if now."""
    limits = _recipient_limits(services)
    return services.throttle.wait(connection, [f"{purpose}:{address}"], limits, now)


def _recipient_limits(services: Services) -> tuple[Limit, Limit]:
    """Per address and purpose: one message per cooldown, so many an hour."""
    settings = services.settings
    return Limit(1, settings.throttle_cooldown), Limit(settings.throttle_per_hour, 3600)


def code_tries(purpose: str, addresses: Iterable[str]) -> list[str]:
    """The subjects counting wrong codes sent for `purpose` with these addresses."""
    return [f"code-tries:{purpose}:{address}" for address in addresses]


def limit_client(services: Services, ip: str, now: datetime) -> None:
    """Count a POST from this client IP in a transaction of its own, or answer 429."""
    limit = Limit(services.settings.ip_rate_limit, CLIENT_WINDOW_SECONDS)
    with services.unit_of_work() as uow:
        # A counter lost in a crash costs nothing; do not wait for the disk.
        wait = services.throttle.take(uow.connection, [f"ip:{ip}"], [limit], now, durable=False)
        uow.commit()
    if wait:
        services.refused_clients.note(ip, wait)
        raise too_many_requests(wait, "Too many requests from this address; slow down.")


def defer_client_check(check: Callable[[], None]) -> None:
    """Leave the current request's per-IP check to `deferred_client_check`'s caller."""
    g.client_check = check


def deferred_client_check() -> Callable[[], None] | None:
    """The current request's per-IP check, if it was deferred and nobody ran it yet; the
    caller now owns it."""
    check: Callable[[], None] | None = g.pop("client_check", None)
    return check
