"""`delivery.sent`, in the transaction that marks messages sent, for the endpoints that subscribe
to it: whether any does is read at most every SUBSCRIBED_TTL seconds, so that while none does
the relay's writes cost what they did (a lone message's outcome in one statement)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection, Engine

from outbox_relay import marks
from shared.clock import utcnow
from shared.events import deliveries_sent
from shared.outbox import WEBHOOK
from shared.secretbox import SecretBox
from shared.settings.config import Settings
from shared.vocabulary import EventType
from shared.webhook_endpoints import subscribers

# Seconds an answer to "does an endpoint subscribe to `delivery.sent`?" is kept: an endpoint
# added meanwhile hears of the messages sent from then on.
SUBSCRIBED_TTL = 5.0


class SentEvents:
    """Tells the endpoints subscribed to `delivery.sent` of the messages an outcome write marks
    sent (store.OnSent)."""

    def __init__(self, settings: Settings, box: SecretBox, engine: Engine) -> None:
        self._settings = settings
        self._box = box
        self._engine = engine
        self._lock = threading.Lock()
        self._subscribed = False
        self._read_at = -SUBSCRIBED_TTL

    def subscribed(self) -> bool:
        """Whether some endpoint subscribes to `delivery.sent`, as read at most SUBSCRIBED_TTL
        seconds ago."""
        with self._lock:
            if time.monotonic() - self._read_at >= SUBSCRIBED_TTL:
                with self._engine.connect() as connection:
                    self._subscribed = bool(subscribers(connection, EventType.DELIVERY_SENT))
                self._read_at = time.monotonic()
            return self._subscribed

    def follow(self, connection: Connection, sent: list[marks.Mark]) -> None:
        """Queue `delivery.sent` for each message to a user among those marked sent (never for
        an event's own delivery)."""
        messages = [one.row for one in sent if one.row.channel != WEBHOOK]
        deliveries_sent(connection, self._settings, self._box, messages, now=utcnow())
