"""SMTP_RATE: no more than so many messages a second handed to a provider, over all relays."""

from __future__ import annotations

import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import rate_slots
from outbox_relay.failures import Deferred

# How long a message waits before trying for a slot again when the database could not say.
RETRY_WITHOUT_DATABASE = 1.0
# Slots a sender that woke too late for its own may take again before it goes anyway.
LATE_RETRIES = 3


class Pacer:
    """Spaces the messages handed to each provider 1/rate seconds apart, slots kept in the
    database, so that relays sharing it share the rate: no one-second window holds more than
    the rate (one more at its edge)."""

    def __init__(self, engine: Engine, rate: float) -> None:
        self._engine = engine
        self._step = 1.0 / rate

    def pace(self, provider: str, start_by: float) -> None:
        """Wait for `provider`'s next slot; raise Deferred if it comes after `start_by`
        (time.monotonic), when the message's lease could no longer cover its send.

        A sender that wakes more than half a slot after its own (a busy machine, a slow
        reservation) takes another instead of going late: a message handed over late would
        share the next second with the slots given out after it.
        """
        for _ in range(LATE_RETRIES):
            try:
                slot = rate_slots.reserve_slot(
                    self._engine, provider, step=self._step, now=time.time()
                )
            except SQLAlchemyError:
                raise Deferred(RETRY_WITHOUT_DATABASE) from None
            wait = slot - time.time()
            if time.monotonic() + wait > start_by:
                raise Deferred(max(wait, 0.0))
            if wait > 0:
                time.sleep(wait)
            if time.time() - slot <= self._step / 2:
                return
