"""Tokens, the operator's and the providers': compared in constant time, wrong ones counted
against the client; no ADMIN_TOKEN, no admin."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import NoReturn

from flask import request

from api_service.clients import current_client
from api_service.dependencies import dependencies
from api_service.flows import guards
from api_service.flows.errors import TooManyRequests
from api_service.problems import Problem
from shared.clock import utcnow
from shared.text import is_text

LOCKED_OUT = "Too many wrong tokens from this client; wait before trying again."


def admin_enabled() -> bool:
    """Whether ADMIN_TOKEN is set; without it every admin page and route answers 404."""
    return dependencies().settings.admin_token is not None


def token_matches(presented: str | None) -> bool:
    """Whether `presented` is ADMIN_TOKEN, in time independent of where they differ."""
    return _same_token(presented, dependencies().settings.admin_token)


def _same_token(presented: str | None, expected: str | None) -> bool:
    """Whether `presented` is `expected` (never when either is missing), in constant time."""
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def locked_out_wait() -> int:
    """Seconds until this client's tokens are read again; 0 when they are now."""
    return guards.locked_out_wait(dependencies(), current_client(), utcnow())


def wrong_token_wait() -> int:
    """Count a wrong token from this client; the seconds it must wait once over WRONG_TOKENS."""
    return guards.wrong_token_wait(dependencies(), current_client(), utcnow())


def require_token(
    presented: str | None, expected: Sequence[str | None], challenge: Problem
) -> None:
    """Nothing if `presented` is one of `expected` and the client is not locked out; else 429
    while it is (the token unread), or count a wrong token and answer `challenge` (429 once
    that one puts it over WRONG_TOKENS)."""
    require_proof(lambda: any(_same_token(presented, one) for one in expected), challenge)


def require_proof(proven: Callable[[], bool], challenge: Problem) -> None:
    """Nothing if the client is not locked out and `proven()` (a token or a signature checked,
    never while it is locked out); else as require_token."""
    wait = locked_out_wait()
    if wait:
        raise TooManyRequests(wait, LOCKED_OUT)
    if not proven():
        refuse_credential(challenge)


def refuse_credential(challenge: Problem) -> NoReturn:
    """Count a wrong credential from this client (a wrong token or signature, a replayed
    one) and answer `challenge`, or 429 once that one puts it over WRONG_TOKENS."""
    wait = wrong_token_wait()
    if wait:
        raise TooManyRequests(wait, LOCKED_OUT)
    raise challenge


def require_bearer() -> str:
    """The operator's name for the audit, if the request carries `Bearer $ADMIN_TOKEN`.

    404 when ADMIN_TOKEN is unset, so the admin API does not even show it exists; 401 with
    WWW-Authenticate when the token is missing or wrong. Only a wrong one is counted: a
    request without Authorization guesses nothing.
    """
    if not admin_enabled():
        raise Problem(404, "not-found", "Not Found", "The requested URL was not found.")
    credentials = request.headers.get("Authorization", "").strip()
    challenge = Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "Send Authorization: Bearer <ADMIN_TOKEN>.",
        headers={"WWW-Authenticate": 'Bearer realm="outpost-admin"'},
    )
    if not credentials:
        raise challenge
    scheme, _, token = credentials.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    require_token(presented, [dependencies().settings.admin_token], challenge)
    return f"{_operator()}@{request.remote_addr}"


def _operator() -> str:
    """X-Operator, the name the audit gives the operator: text as any field is (UTF-8, no
    control or bidirectional characters, which would forge or hide lines in a terminal)."""
    raw = request.headers.get("X-Operator", "")
    try:
        # HTTP headers arrive as Latin-1; the name is UTF-8 bytes.
        name = raw.encode("latin-1").decode("utf-8").strip()
    except UnicodeError:
        name = None
    if name is None or not is_text(name):
        raise Problem(
            400,
            "bad-operator",
            "Bad X-Operator",
            "X-Operator must be UTF-8 text without control or bidirectional characters.",
        )
    return name[:80] or "admin-api"
