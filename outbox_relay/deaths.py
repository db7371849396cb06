"""What follows a message's death, in the transaction that marks it dead: its address
suppressed when refused as such, and the application told (`delivery.failed`)."""

from __future__ import annotations

from sqlalchemy import Connection

from outbox_relay import marks
from shared.clock import utcnow
from shared.messaging.events import delivery_failed
from shared.messaging.outbox import WEBHOOK, Status
from shared.messaging.refusals import failure_reason, suppression_of
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

# Who refused the address a message's death suppresses, by the message's channel.
_SOURCES = {"email": "smtp", "sms": "sms"}


class Deaths:
    """Follows up the deaths an outcome write records (store.OnDead)."""

    def __init__(self, settings: Settings, box: SecretBox, suppression: LazySuppressor) -> None:
        self._settings = settings
        self._box = box
        self._suppression = suppression

    def follow(self, connection: Connection, dead: list[marks.Mark]) -> None:
        """Suppress an address refused as such (5.1.x, an invalid number, an opted-out
        recipient: the message itself stays `permanent_error`), and tell the application of
        each death, never of an event's own."""
        now = utcnow()
        for one in dead:
            row = one.row
            if row.channel == WEBHOOK:
                continue
            suppression = suppression_of(one.refusal)
            if suppression is not None:
                self._suppression.of(connection).add(
                    connection,
                    row.recipient,
                    reason=suppression,
                    source=_SOURCES[row.channel],
                    now=now,
                )
            reason = failure_reason(Status.DEAD, one.dead_reason, one.refusal)
            delivery_failed(connection, self._settings, self._box, row, reason, now=now)
