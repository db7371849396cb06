"""Which limits apply to what: per address and purpose, per code, per client IP (init_app)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection

from api_service.dependencies import Dependencies, dependencies
from api_service.flows.errors import TooManyRequests
from shared.clock import utcnow
from shared.throttle import Limit, code_tries

# Failed code attempts one account may make in an hour, across all its codes.
ACCOUNT_FAILURES = Limit(100, 3600)
CLIENT_WINDOW_SECONDS = 60


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
    limit = Limit(deps.settings.ip_rate_limit, CLIENT_WINDOW_SECONDS)
    with deps.unit_of_work() as uow:
        # A counter lost in a crash costs nothing; do not wait for the disk.
        wait = deps.throttle.take(uow.connection, [f"ip:{ip}"], [limit], now, durable=False)
        uow.commit()
    if wait:
        deps.refused_clients.note(ip, wait)
        raise TooManyRequests(wait, "Too many requests from this address; slow down.")


F = TypeVar("F", bound=Callable[..., Any])

# Routes for operators and providers, not the public: they demand a token, and a client
# presenting wrong ones waits (admin_auth.wrong_token_wait); the right token is never counted
# against its address, so a provider reporting bounces from one address, or an operator's
# script, is not held to a sign-up form's pace.
OWN_CREDENTIALS = frozenset({"admin", "dashboard", "provider_events"})


def checked_beside_the_hash(view: F) -> F:
    """Mark a route that hashes a password: its per-IP check runs beside the hash (the route
    passes `deferred_client_check()` to its flow), so a sign-up does not wait for both."""
    setattr(view, _BESIDE_THE_HASH, True)
    return view


def init_app(app: Flask) -> None:
    """Count every public POST against its client IP, and count the ones whose deferred check
    was never reached (a bad body, say) once they are answered."""
    app.before_request(_limit_posts)
    # Registered after the metrics' hook, so that it runs before it and they count its answer.
    app.after_request(_check_client_if_still_due)


def deferred_client_check() -> Callable[[], None] | None:
    """The current request's per-IP check, if it was deferred and nobody ran it yet; the
    caller now owns it."""
    check: Callable[[], None] | None = g.pop("client_check", None)
    return check


_BESIDE_THE_HASH = "outpost_checked_beside_the_hash"


def _limit_posts() -> None:
    """Every public POST counts against its client IP, whatever its body.

    A route that hashes a password runs the check beside the hash instead, unless this worker
    refused the client lately (see RefusedClients): the answer then waits for the longer of
    the two rather than both in turn.
    """
    if request.method != "POST" or request.blueprint in OWN_CREDENTIALS:
        return
    ip = request.remote_addr or "unknown"
    deps = dependencies()
    check = partial(limit_client, deps, ip, utcnow())
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _BESIDE_THE_HASH, False) and not deps.refused_clients.recent(ip):
        g.client_check = check
    else:
        check()


def _check_client_if_still_due(response: Response) -> Response:
    """Count the POSTs whose check was deferred but never reached (a bad body, say)."""
    check = deferred_client_check()
    if check is None:
        return response
    try:
        check()
    except Exception as exc:  # answered as any error of the request would be
        return current_app.make_response(current_app.handle_user_exception(exc))
    return response
