"""What the API's guards keep in the database: the wrong tokens each client presented (the
admin API, the dashboard and the provider routes share the count) and the dashboard sessions
signed out."""

from __future__ import annotations

from datetime import datetime

from api_service.flows.dependencies import Dependencies
from shared.database.throttle import Limit

# Wrong tokens one client may present, on the admin API, the dashboard and the provider routes
# together, before it waits. While it waits, every token it presents is refused unread, the
# right one included: the lockout stops guessing, not only wrong answers. Other clients are
# unaffected, so a guesser cannot lock the operators (or the providers) out.
WRONG_TOKENS = Limit(10, 900)


def _wrong_tokens(client: str) -> list[str]:
    """The subject counting this client's wrong tokens."""
    return [f"wrong-token:{client}"]


def locked_out_wait(deps: Dependencies, client: str, now: datetime) -> int:
    """Seconds until this client's tokens are read again; 0 when they are now."""
    with deps.unit_of_work() as uow:
        return deps.throttle.wait(uow.connection, _wrong_tokens(client), [WRONG_TOKENS], now)


def wrong_token_wait(deps: Dependencies, client: str, now: datetime) -> int:
    """Count a wrong token from this client; the seconds it must wait once over WRONG_TOKENS."""
    with deps.unit_of_work() as uow:
        wait = deps.throttle.take(uow.connection, _wrong_tokens(client), [WRONG_TOKENS], now)
        uow.commit()
    return wait


def signed_out(deps: Dependencies, sid: str, lifetime: int, now: datetime) -> bool:
    """Whether the dashboard session `sid` (of `lifetime` seconds) was signed out."""
    with deps.unit_of_work() as uow:
        return bool(
            deps.throttle.wait(uow.connection, [_signed_out(sid)], [Limit(1, lifetime)], now)
        )


def sign_out(deps: Dependencies, sid: str, now: datetime) -> None:
    """Refuse the session's cookie from now on, wherever a copy of it is kept.

    The cookie carries the whole session, so removing it from the browser is not enough: its
    id is written down (in the throttle's table, keyed by an HMAC like every subject there).
    """
    with deps.unit_of_work() as uow:
        deps.throttle.record(uow.connection, [_signed_out(sid)], now)
        uow.commit()


def _signed_out(sid: str) -> str:
    return f"dashboard-signed-out:{sid}"
