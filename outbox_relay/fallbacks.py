"""What follows a decision that a code goes again on the account's other channel (decide.py
decides it; shared/messaging/fallbacks.py writes it), in the transaction that records why."""

from __future__ import annotations

from sqlalchemy import Connection

from outbox_relay.claims import Claimed
from shared.clock import utcnow
from shared.database.throttle import Throttle
from shared.messaging.fallbacks import FallbackWriter, send_fallback
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings


class Fallbacks:
    """Writes the fallbacks an outcome write or a hand-back carries (store.OnFallback)."""

    def __init__(self, settings: Settings, box: SecretBox, suppression: LazySuppressor) -> None:
        self._writer = FallbackWriter(settings, box, Throttle(settings.secret_key), suppression)

    def follow(self, connection: Connection, rows: list[Claimed]) -> None:
        """Send each row's code again on the other channel, as far as the rules let it."""
        now = utcnow()
        for row in rows:
            send_fallback(self._writer, connection, row.id, now)
