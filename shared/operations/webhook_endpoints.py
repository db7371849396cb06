"""Operators' webhook endpoints (shared/messaging/webhook_endpoints.py): added, listed and removed
alike from the admin API, the command line and the dashboard, each change audited, never with the
secret or what the URL's query string and credentials may hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shared.messaging import webhook_endpoints
from shared.messaging.messages import Queueing
from shared.messaging.webhook_endpoints import Endpoint
from shared.operations.audit import record
from shared.runtime.logs import bare_url
from shared.vocabulary import EventType

# What an operator may subscribe an endpoint to: every event.
SUBSCRIBABLE = tuple(EventType)


def add_endpoint(
    connection: Connection,
    deps: Queueing,
    url: str,
    events: tuple[EventType, ...],
    *,
    actor: str,
    now: datetime,
) -> tuple[Endpoint, str]:
    """Add an endpoint for `events` (each once, in the order given); it and its `whsec_`
    secret, shown this once. Audited."""
    unique = tuple(dict.fromkeys(events))
    endpoint, secret = webhook_endpoints.add(connection, deps.box, url, unique, now=now)
    details = {"url": bare_url(url), "events": [str(event) for event in unique]}
    record(connection, actor, "add_webhook_endpoint", endpoint.id, details, now)
    return endpoint, secret


def list_endpoints(connection: Connection) -> list[Endpoint]:
    """Every endpoint, oldest first, without its secret."""
    return webhook_endpoints.listed(connection)


def remove_endpoint(
    connection: Connection, deps: Queueing, endpoint_id: str, *, actor: str, now: datetime
) -> bool:
    """Remove an endpoint, its events still queued cancelled; False if there is none. Audited
    when it was there."""
    if not webhook_endpoints.remove(connection, endpoint_id):
        return False
    record(connection, actor, "remove_webhook_endpoint", endpoint_id, {}, now)
    return True
