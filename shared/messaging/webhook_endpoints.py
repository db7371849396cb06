"""The application's webhook endpoints beside WEBHOOK_URL, each for the events it lists: stored
with their URL and Standard Webhooks secret sealed (shared/secrets/secretbox.py), the secret shown
once.

An event for an endpoint is an outbox row of channel `webhook` whose recipient is the
endpoint's public id (WEBHOOK_URL's rows have `webhook`), carrying the endpoint's URL and secret
in its sealed parameters: each is retried and dead-lettered apart, and the relay needs no
lookup to send it.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, delete, insert, select

from shared.database.models import webhook_endpoints
from shared.messaging.transitions import cancel_events_to
from shared.runtime.logs import bare_url
from shared.secrets.secretbox import SecretBox
from shared.settings.config_values import webhook_url
from shared.vocabulary import EventType

# Bytes of a new endpoint's key (Standard Webhooks: between 24 and 64).
KEY_BYTES = 32
# The prefix of a Standard Webhooks secret; the key is the base64 text after it.
PREFIX = "whsec_"
# The sealed parameters' keys an endpoint's rows carry (outbox_relay/compose.py reads them).
URL, SECRET = "url", "secret"
# Seconds a process keeps the endpoints it read, so that an event costs no read of its own (a
# registration's round trips stay as they were): one added or removed by another process (an API
# worker, the CLI) is heard of within this, by this one at once.
FRESH_FOR = 5.0
# What each database's endpoints were when last read, by its URL (every engine of this process
# on it forgets them when one adds or removes one): (when, [(id, events, sealed)]).
_READ: dict[str, tuple[float, list[tuple[str, list[str], str]]]] = {}


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as operators see it: never its secret."""

    id: str
    url: str
    events: tuple[EventType, ...]
    created_at: datetime


@dataclass(frozen=True)
class Subscriber:
    """An endpoint subscribed to an event: where its rows go, and its rows' sealed
    parameters' source."""

    id: str
    sealed: str


def checked_url(value: str) -> str:
    """`value` as an endpoint's URL: WEBHOOK_URL's rule (http(s)://, no spaces or control
    characters) and a host and port that parse; else ValueError saying why."""
    url = webhook_url(value)
    if url is None:
        raise ValueError("must not be empty")
    parts = urlsplit(url)  # raises on a malformed IPv6 host
    if not parts.hostname:
        raise ValueError("must name a host")
    _ = parts.port  # raises on a port that is no number, or out of range
    return url


def new_secret() -> str:
    """A fresh `whsec_…` secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def add(
    connection: Connection,
    box: SecretBox,
    url: str,
    events: tuple[EventType, ...],
    *,
    now: datetime,
) -> tuple[Endpoint, str]:
    """Store a new endpoint for `events` (its URL as `checked_url` takes it); it and its
    secret, which is shown this once. The URL is shown without its query string and
    credentials, which only its sealed copy keeps."""
    url = checked_url(url)
    secret = new_secret()
    endpoint = Endpoint(str(uuid.uuid4()), bare_url(url), events, now)
    connection.execute(
        insert(webhook_endpoints).values(
            public_id=endpoint.id,
            created_at=now,
            url=endpoint.url,
            events=[str(event) for event in events],
            sealed=box.seal({URL: url, SECRET: secret}),
        )
    )
    _READ.pop(_database(connection), None)
    return endpoint, secret


def listed(connection: Connection) -> list[Endpoint]:
    """Every endpoint, oldest first."""
    found = connection.execute(select(webhook_endpoints).order_by(webhook_endpoints.c.id))
    return [
        Endpoint(r.public_id, r.url, tuple(EventType(e) for e in r.events), r.created_at)
        for r in found
    ]


def remove(connection: Connection, public_id: str) -> bool:
    """Remove an endpoint and cancel the events still queued for it (their secrets wiped);
    False if there is none."""
    gone = connection.execute(
        delete(webhook_endpoints).where(webhook_endpoints.c.public_id == public_id)
    )
    if gone.rowcount == 0:
        return False
    _READ.pop(_database(connection), None)
    cancel_events_to(connection, public_id)
    return True


def subscribers(connection: Connection, event: EventType) -> list[Subscriber]:
    """The endpoints subscribed to `event` (the table is small: read whole, filtered here, and
    kept FRESH_FOR seconds)."""
    found = _fresh(connection.engine)
    if found is None:
        found = _read(connection)
    return [Subscriber(id_, sealed) for id_, events, sealed in found if event in events]


def anyone_subscribed(engine: Engine, event: EventType) -> bool:
    """Whether an endpoint subscribes to `event`, connecting only when what was read is older
    than FRESH_FOR (the relay asks it on every write)."""
    found = _fresh(engine)
    if found is None:
        with engine.connect() as connection:
            found = _read(connection)
    return any(event in events for _, events, _ in found)


def _fresh(engine: Engine) -> list[tuple[str, list[str], str]] | None:
    at, found = _READ.get(str(engine.url), (-FRESH_FOR, []))
    return found if time.monotonic() - at < FRESH_FOR else None


def _read(connection: Connection) -> list[tuple[str, list[str], str]]:
    columns = (webhook_endpoints.c.public_id, webhook_endpoints.c.events)
    read = connection.execute(select(*columns, webhook_endpoints.c.sealed))
    found = [(r.public_id, list(r.events), r.sealed) for r in read]
    _READ[_database(connection)] = (time.monotonic(), found)
    return found


def _database(connection: Connection) -> str:
    return str(connection.engine.url)


def sealed(connection: Connection, public_id: str) -> str | None:
    """An endpoint's URL and secret, sealed as its events' rows carry them (under the outbox's
    key); None once it is removed."""
    found = connection.execute(
        select(webhook_endpoints.c.sealed).where(webhook_endpoints.c.public_id == public_id)
    )
    return found.scalar_one_or_none()


def row_secrets(box: SecretBox, subscriber: Subscriber) -> dict[str, Any]:
    """The sealed parameters of an event's row for `subscriber`: its URL and secret."""
    return box.open(subscriber.sealed)
