"""What every mail provider's reader shares: how it is listed and documented, its signed body,
its refusals, and the fields of a payload read as the types Outpost expects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Request

from api_service.admin_auth import require_proof
from api_service.problems import Problem
from api_service.provider_feeds import MAX_BODY_BYTES, FeedPost, check_storable
from api_service.request_body import read_bytes, read_json

# The custom data key under which the sending side carries a message's public id, one for
# both sides (shared/mail_providers); the readers read it from here.
from shared.mail_providers.spec import OUTPOST_ID as OUTPOST_ID
from shared.settings.config import Settings

# The longest message reference read; longer ones find nothing.
_MAX_REFERENCE = 300


@dataclass(frozen=True)
class Reader:
    """One mail provider's webhook: its name (the events' `source` and the route's last
    segment), what the OpenAPI document says of it, and how a post is verified and read."""

    name: str
    operation_id: str
    # The route's summary: what it takes, how it is verified, when it answers 404.
    summary: str
    # The body's description, and its JSON type (`object`, or `array` for a batch).
    body: str
    body_type: str
    read: Callable[[Request, Settings], FeedPost]


def absent() -> NoReturn:
    """404, as for a route that is not there: the provider's key is not configured."""
    raise Problem(404, "not-found", "Not Found", "No such route.")


def unauthorized(detail: str, scheme: str | None = None) -> Problem:
    """The 401 of an unsigned or wrongly signed post."""
    headers = {"WWW-Authenticate": f'{scheme} realm="provider-events"'} if scheme else None
    return Problem(401, "unauthorized", "Unauthorized", detail, headers=headers)


def signed_body(request: Request) -> bytes:
    """The JSON body's bytes as they came (up to MAX_BODY_BYTES), which a signature covers."""
    return read_bytes(request, max_bytes=MAX_BODY_BYTES)


def require_signature(proven: Callable[[], bool], detail: str) -> None:
    """Nothing when the signature checks out; else counted as a wrong credential, and 401."""
    require_proof(proven, unauthorized(detail))


def payload(request: Request) -> Any:
    """The body as JSON, every string in it storable (422 naming those that are not)."""
    body = read_json(request, max_bytes=MAX_BODY_BYTES)
    check_storable(body)
    return body


def text(value: Any) -> str | None:
    """A string field's value; None for anything else."""
    return value if isinstance(value, str) else None


def reference(value: Any) -> str | None:
    """A message id as a report gives it: a string of 1 to 300 characters, else None."""
    found = text(value)
    return found if found and len(found) <= _MAX_REFERENCE else None


def section(value: Any) -> Mapping[str, Any]:
    """An object field's value; empty for anything else."""
    return value if isinstance(value, dict) else {}
