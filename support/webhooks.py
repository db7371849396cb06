"""Lifecycle events in tests: an account written directly, an event emitted by hand, a webhook
endpoint subscribed, and a request's payload checked by the Standard Webhooks reference library."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert
from standardwebhooks.webhooks import Webhook

from outbox_relay.relay import Relay
from shared.accounts.accounts import user_by_id
from shared.clock import utcnow
from shared.database.models import users
from shared.messaging import webhook_endpoints
from shared.messaging.events import emit
from shared.secrets.secretbox import SecretBox
from shared.vocabulary import EventType
from support.constants import SECRET_KEY
from support.http_stand_in import GatewayRequest


def a_user(engine: Engine) -> int:
    """An active account, written directly: its id."""
    with engine.begin() as connection:
        inserted = connection.execute(
            insert(users).values(
                email="ada@example.com",
                password_hash="!",
                locale="en",
                status="active",
                created_at=utcnow(),
                email_proven_at=utcnow(),
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None
        return int(key[0])


def emit_activated(engine: Engine, relay: Relay) -> int:
    """`account.activated` about a new account, emitted by hand with the relay's settings."""
    user_id = a_user(engine)
    with engine.begin() as connection:
        emit(
            connection,
            relay.settings,
            SecretBox(SECRET_KEY),
            now=utcnow(),
            event=EventType.ACCOUNT_ACTIVATED,
            user_id=user_id,
            account=user_by_id(connection, user_id),
        )
    return user_id


def subscribe(engine: Engine, url: str, *events: EventType) -> tuple[str, str]:
    """An endpoint at `url` for `events`, written as the operation writes it: its id and secret."""
    with engine.begin() as connection:
        endpoint, secret = webhook_endpoints.add(
            connection, SecretBox(SECRET_KEY), url, events, now=utcnow()
        )
    return endpoint.id, secret


def signed_for(secret: str, request: GatewayRequest) -> Any:
    """The payload, once the reference library checked its signature against `secret`."""
    headers = {k.lower(): v for k, v in request.headers}
    return Webhook(secret).verify(request.body, headers)
