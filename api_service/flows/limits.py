"""Which limits apply to what: per address and purpose, per region, per code, per client IP."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import TooManyRequests
from api_service.flows.unit_of_work import UnitOfWork
from api_service.sms_counts import SMS_TOTAL
from shared.addresses import phone_region
from shared.outbox import Delivery
from shared.throttle import Along, Limit, code_tries, sms_region

# Failed code attempts one account may make in an hour, across all its codes.
ACCOUNT_FAILURES = Limit(100, 3600)
CLIENT_WINDOW_SECONDS = 60
# The generic refusal of a client past its limits.
SLOW_DOWN = "Too many requests from this address; slow down."
# The region cap's: it speaks of the service, never of the client, who did nothing wrong (the
# cap is everybody's; a real user after an attack on their region must not be told it is theirs).
SERVICE_BUSY = "Too many text messages are being sent right now; try again later."
# The subject counting the SMS one client caused.
_SMS_CLIENT = "sms-client:"


def limit_recipients(
    deps: Dependencies,
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
    limits = _recipient_limits(deps)
    addresses = list(addresses)
    wait = deps.throttle.take(
        connection,
        [f"{purpose}:{a}" for a in addresses],
        limits,
        now,
        forget=code_tries(purpose, addresses),
    )
    if wait:
        raise TooManyRequests(wait, "A message was sent to this address recently.")


def limit_sms(
    deps: Dependencies, uow: UnitOfWork, phone: str | None, client: str, *, sms: bool, now: datetime
) -> None:
    """Answer 429 if the request asks for an SMS (`sms`) past its client's hour
    (SMS_CLIENT_HOURLY_LIMIT), or names a number whose region's hour is full
    (SMS_REGION_HOURLY_LIMIT); count the client's SMS.

    The client's share is checked first, so a capped client takes nothing of its region's
    hour. The region is checked for the number the request names, whatever its channel and
    whether or not an account owns it, so the answer tells nothing of either. The SMS row
    written later in the same transaction records the region's event (shared.messages) under
    the lock this check takes, so concurrent workers never both take the last place.
    """
    if phone is None:
        return
    region = phone_region(phone)
    settings = deps.settings
    if sms:
        limits = [Limit(settings.sms_client_hourly_limit, 3600)]
        wait = deps.throttle.take(uow.connection, [_SMS_CLIENT + client], limits, now)
        if wait:
            SMS_TOTAL.labels(region, "client_capped").inc()
            raise TooManyRequests(wait, SLOW_DOWN)
    limits = [Limit(settings.sms_region_hourly_limit, 3600)]
    wait = deps.throttle.wait(uow.connection, [sms_region(region)], limits, now)
    if wait:
        SMS_TOTAL.labels(region, "capped").inc()
        raise TooManyRequests(wait, SERVICE_BUSY)


def count_sms(uow: UnitOfWork, phone: str | None, delivery: Delivery, *, asked: bool) -> None:
    """Count, once committed, the SMS a request `asked` for to `phone`: queued, or withheld (a
    number no account uses gets none)."""
    if phone is None or not asked:
        return
    outcome = "withheld" if delivery.withheld else "queued"
    uow.after_commit(SMS_TOTAL.labels(phone_region(phone), outcome).inc)


def recipient_wait(
    deps: Dependencies, connection: Connection, purpose: str, address: str, now: datetime
) -> int:
    """Seconds until a message of `purpose` to `address` would pass its limits; 0 if now."""
    limits = _recipient_limits(deps)
    return deps.throttle.wait(connection, [f"{purpose}:{address}"], limits, now)


def _recipient_limits(deps: Dependencies) -> tuple[Limit, Limit]:
    """Per address and purpose: one message per cooldown, so many an hour."""
    settings = deps.settings
    return Limit(1, settings.throttle_cooldown), Limit(settings.throttle_per_hour, 3600)


def limit_client(deps: Dependencies, ip: str, now: datetime) -> None:
    """Count a POST from this client IP in a transaction of its own, or answer 429."""
    with deps.unit_of_work() as uow:
        # A counter lost in a crash costs nothing; do not wait for the disk.
        wait = count_client(deps, uow.connection, ip, now, durable=False)
        uow.commit()
    refuse_client(deps, ip, wait)


def count_client(
    deps: Dependencies,
    connection: Connection,
    ip: str,
    now: datetime,
    *,
    durable: bool = True,
    along: Along | None = None,
) -> int:
    """Count a POST from this client IP in the caller's transaction; if the client is over its
    limit, count nothing and return the seconds it must wait (0: counted). `along`: an update
    of the caller's sent with the check's lock."""
    limit = Limit(deps.settings.ip_rate_limit, CLIENT_WINDOW_SECONDS)
    subjects = [f"ip:{ip}"]
    return deps.throttle.take(connection, subjects, [limit], now, durable=durable, along=along)


def refuse_client(deps: Dependencies, ip: str, wait: int) -> None:
    """Answer 429 to a client that must wait `wait` seconds (none when 0), and remember it."""
    if wait:
        deps.refused_clients.note(ip, wait)
        raise TooManyRequests(wait, SLOW_DOWN)
