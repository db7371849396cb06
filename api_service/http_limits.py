"""The per-IP limit on every public POST, as Flask hooks: counted on arrival, or beside the hash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from api_service.clients import current_client
from api_service.dependencies import dependencies
from shared.clock import utcnow

F = TypeVar("F", bound=Callable[..., Any])

# Routes for operators and providers, not the public: they demand a token, and a client
# presenting wrong ones waits (admin_auth.wrong_token_wait); the right token is never counted
# against its address, so a provider reporting bounces from one address, or an operator's
# script, is not held to a sign-up form's pace.
OWN_CREDENTIALS = frozenset({"admin", "admin_invitations", "dashboard", "provider_events"})

_BESIDE_THE_HASH = "outpost_checked_beside_the_hash"


def checked_beside_the_hash(view: F) -> F:
    """Mark a route that hashes a password: its per-IP check runs beside the hash (the route
    passes `client_to_check()` to its flow), so a sign-up does not wait for both."""
    setattr(view, _BESIDE_THE_HASH, True)
    return view


def init_app(app: Flask) -> None:
    """Count every public POST against its client IP, and count the ones whose deferred check
    was never reached (a bad body, say) once they are answered."""
    app.before_request(_limit_posts)
    # Registered after the metrics' hook, so that it runs before it and they count its answer.
    app.after_request(_check_client_if_still_due)


def client_to_check() -> str | None:
    """The client address whose per-IP check the current request deferred, if nobody took it
    yet; the caller now owns the check."""
    client: str | None = g.pop("client_to_check", None)
    return client


def _limit_posts() -> None:
    """Every public POST counts against its client IP, whatever its body.

    A route that hashes a password runs the check beside the hash instead, unless this worker
    refused the client lately (ClientLimit.refused_lately): the answer then waits for the
    longer of the two rather than both in turn.
    """
    if request.method != "POST" or request.blueprint in OWN_CREDENTIALS:
        return
    ip = current_client()
    deps = dependencies()
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _BESIDE_THE_HASH, False) and not deps.client_limit.refused_lately(ip):
        g.client_to_check = ip
    else:
        deps.client_limit.check(deps.unit_of_work(), ip, utcnow())


def _check_client_if_still_due(response: Response) -> Response:
    """Count the POSTs whose check was deferred but never reached (a bad body, say)."""
    ip = client_to_check()
    if ip is None:
        return response
    deps = dependencies()
    try:
        deps.client_limit.check(deps.unit_of_work(), ip, utcnow())
    except Exception as exc:  # answered as any error of the request would be
        return current_app.make_response(current_app.handle_user_exception(exc))
    return response
