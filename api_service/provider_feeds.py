"""Providers' delivery webhooks read into ProviderEvents: Outpost's own JSON (Amazon SES's, as
SNS posts it, is read in api_service.ses_feed); and the token that guards both.

SNS signs its posts, but checking a signature means fetching Amazon's certificate, and no
request of the API calls out: the guard is PROVIDER_EVENTS_TOKEN, which SNS presents as the
password of HTTP Basic (`https://outpost:TOKEN@host/v1/provider-events/ses`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Request

from api_service.admin_auth import require_token
from api_service.flows.provider_events import Token
from api_service.problems import Problem, validation_problem
from api_service.request_body import read_json
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.text import storable


@dataclass(frozen=True)
class FeedPost:
    """What one post of a provider brings: its events, and the provider's id of the
    notification (the same in every retry of it)."""

    events: list[ProviderEvent]
    notification_id: str | None = None
    # The metrics' names of what it reports that Outpost does not act on.
    ignored: tuple[str, ...] = ()
    # A token the provider signed with the post, refused if ever seen again (Mailgun's).
    once: Token | None = None


# The most events one post may carry, and its largest body.
MAX_EVENTS = 1000
MAX_BODY_BYTES = 1024 * 1024


def _challenge() -> Problem:
    """The 401 that asks for the token; SNS sends its Basic credentials only after it."""
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "Present PROVIDER_EVENTS_TOKEN as a Bearer token or as the HTTP Basic password.",
        headers={"WWW-Authenticate": 'Basic realm="provider-events"'},
    )


def authenticate(request: Request, token: str | None) -> None:
    """404 when no token is configured; 401 unless the request presents it, as a Bearer token
    or as the password of HTTP Basic, compared in constant time.

    Only wrong credentials count against the client's address: SNS posts without any until it
    is challenged, so a request that brings none gets the challenge every time.
    """
    if token is None:
        raise Problem(404, "not-found", "Not Found", "No such route.")
    credentials = request.headers.get("Authorization", "").strip()
    if not credentials:
        raise _challenge()
    scheme, _, value = credentials.partition(" ")
    presented = ""
    if scheme.lower() == "bearer":
        presented = value.strip()
    elif scheme.lower() == "basic":
        try:
            presented = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            presented = ""
    require_token(presented, [token], _challenge())


def body_json(request: Request, *, text_allowed: bool) -> Any:
    """The body as JSON (up to MAX_BODY_BYTES); SNS posts it as text/plain."""
    allowed = ("application/json", "text/plain") if text_allowed else ("application/json",)
    return read_json(request, media_types=allowed, max_bytes=MAX_BODY_BYTES)


# Providers' diagnostics may carry line breaks, but no string may hold what no database stores.
UNSTORABLE = "Must not contain NUL or unpaired surrogates."


def _unstorable(payload: Any, under: str) -> Iterator[str]:
    """The pointers of the strings (values and keys) that hold NUL or an unpaired surrogate."""
    stack: list[tuple[str, Any]] = [(under, payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    yield where.lstrip("/")
                stack.append((f"{where}/{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}/{n}", item) for n, item in enumerate(value))
        elif isinstance(value, str) and not storable(value):
            yield where.lstrip("/")


def check_storable(payload: Any, *, under: str = "") -> None:
    """A 422 naming (up to ten of) the strings in `payload` that no database stores."""
    unstorable = list(_unstorable(payload, under))
    if unstorable:
        raise validation_problem((where, UNSTORABLE) for where in unstorable[:10])


def outpost_events(payload: Any) -> list[ProviderEvent]:
    """`{"events": [{type, message_id | delivery_id, recipient, permanent, diagnostic}]}`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise validation_problem([("events", "A list of events is required.")])
    items = payload["events"]
    if len(items) > MAX_EVENTS:
        raise validation_problem([("events", f"At most {MAX_EVENTS} events a post.")])
    errors: list[tuple[str, str]] = []
    events = []
    for n, item in enumerate(items):
        where = f"events/{n}"
        if not isinstance(item, dict):
            errors.append((where, "An event is an object."))
            continue
        unknown = set(item) - {
            "type",
            "message_id",
            "delivery_id",
            "recipient",
            "permanent",
            "diagnostic",
        }
        errors += [(f"{where}/{name}", "Unknown field.") for name in sorted(unknown)]
        kind = item.get("type")
        if kind not in ("bounce", "complaint", "delivery"):
            errors.append((f"{where}/type", "One of bounce, complaint, delivery."))
        references = [item[k] for k in ("message_id", "delivery_id") if k in item]
        reference = references[0] if references else None
        if not references or not all(isinstance(r, str) and 0 < len(r) <= 300 for r in references):
            errors.append((f"{where}/message_id", "A message_id or delivery_id is required."))
        permanent = item.get("permanent", kind == "complaint")
        if not isinstance(permanent, bool):
            errors.append((f"{where}/permanent", "Must be true or false."))
        for name in ("recipient", "diagnostic"):
            value = item.get(name)
            if name in item and not (isinstance(value, str) and len(value) <= 1000):
                errors.append((f"{where}/{name}", "A string of at most 1000 characters."))
        for name in ("message_id", "delivery_id", "recipient", "diagnostic"):
            value = item.get(name)
            if isinstance(value, str) and not storable(value):
                errors.append((f"{where}/{name}", UNSTORABLE))
        if not errors:
            events.append(
                ProviderEvent(
                    type=ProviderEventType(str(kind)),
                    permanent=bool(permanent),
                    source="outpost",
                    recipient=item.get("recipient"),
                    diagnostic=item.get("diagnostic"),
                    message_id=str(reference),
                )
            )
    if errors:
        raise validation_problem(errors)
    return events
