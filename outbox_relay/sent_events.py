"""`delivery.sent`, in the transaction that marks messages sent, for the endpoints that subscribe
to it: whether any does is read at most every FRESH_FOR seconds
(shared.messaging.webhook_endpoints), so that while none does the relay's writes cost what they did
(a lone message's outcome in one statement)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from outbox_relay import marks
from shared.clock import utcnow
from shared.messaging.events import deliveries_sent
from shared.messaging.outbox import WEBHOOK
from shared.messaging.webhook_endpoints import anyone_subscribed
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.vocabulary import EventType


class SentEvents:
    """Tells the endpoints subscribed to `delivery.sent` of the messages an outcome write marks
    sent (store.OnSent)."""

    def __init__(self, settings: Settings, box: SecretBox, engine: Engine) -> None:
        self._settings = settings
        self._box = box
        self._engine = engine

    def subscribed(self) -> bool:
        """Whether some endpoint subscribes to `delivery.sent`, as read at most FRESH_FOR
        seconds ago."""
        return anyone_subscribed(self._engine, EventType.DELIVERY_SENT)

    def follow(self, connection: Connection, sent: list[marks.Mark]) -> None:
        """Queue `delivery.sent` for each message to a user among those marked sent (never for
        an event's own delivery)."""
        messages = [one.row for one in sent if one.row.channel != WEBHOOK]
        deliveries_sent(connection, self._settings, self._box, messages, now=utcnow())
