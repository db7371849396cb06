"""The relay: claims batches of due rows for its senders, and follows up on the deaths its
outcomes record (suppression, the application's `delivery.failed`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import claims, store
from outbox_relay.channels.factory import ChannelFactory, default_channels
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.pacing import Pacer
from outbox_relay.providers import Providers
from outbox_relay.senders import Senders
from shared.accounts import user_by_id
from shared.clock import utcnow
from shared.config import Settings
from shared.events import emit
from shared.outbox import WEBHOOK, failure_reason, suppression_of
from shared.secretbox import SecretBox
from shared.suppressions import Suppressor

log = logging.getLogger(__name__)

__all__ = ["Relay", "default_channels"]

# Who refused the address a message's death suppresses, by the message's channel.
_SOURCES = {"email": "smtp", "sms": "sms"}


class Relay:
    """Claims due rows and delivers each with one of `concurrency` senders.

    Each sender uses the first provider of the row's channel that is up. A failure that is the
    provider's pauses it for every sender (providers.Provider) and the row waits, due again at
    once for a fallback; while no provider of a channel is up, its rows are not claimed.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        channels: ChannelFactory | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        pooled = settings.database_pooler == "transaction"
        claims.prepare(engine, transaction_pooler=pooled)
        self._claimer = claims.Claimer(engine, transaction_pooler=pooled)
        self._box = SecretBox(*settings.secret_keys)
        pacer = Pacer(engine, settings.smtp_rate) if settings.smtp_rate else None
        make_channel = channels or default_channels(settings, pacer.pace if pacer else None)
        self.stopping = threading.Event()
        # Called when a provider is paused or back, so a waiting daemon claims at once.
        self.wake: Callable[[], None] = lambda: None
        self.providers = Providers(
            settings,
            make_channel,
            probe_sender=settings.mail_from.address,
            stopping=self.stopping,
            on_change=lambda: self.wake(),
        )
        # Called whenever the relay makes progress (a claim, an outcome written).
        self.heartbeat: Callable[[], None] = lambda: None
        self.outcomes = OutcomeBook(
            engine,
            settings.relay_batch_size,
            heartbeat=lambda: self.heartbeat(),
            on_dead=self._after_deaths,
        )
        self.senders = Senders(
            settings,
            self._box,
            self.providers,
            make_channel,
            self.outcomes,
            stopping=self.stopping,
            heartbeat=lambda: self.heartbeat(),
        )

    def drain(self) -> int:
        """Deliver everything due and write every outcome; the number of rows handled."""
        handled = self.deliver_due()
        self.outcomes.flush()
        return handled

    def deliver_due(self) -> int:
        """Claim and deliver batches until nothing is due; the number of rows handled.

        A lone row's outcome is written at once; a claim of many rows has its outcomes
        written a batch at a time and all before the next claim (outcomes.OutcomeBook).
        `outcomes.next_write_in` says when those still waiting are due.
        """
        handled = 0
        try:
            self.outcomes.settle_backlog()
            while not self.stopping.is_set():
                # Outcomes waiting to be written and rows claimed never add up to more than a
                # batch, so that a crash repeats at most a batch of sends.
                limit = self.settings.relay_batch_size - self.outcomes.waiting()
                rows = self._claimer.claim(
                    now=utcnow(),
                    limit=limit,
                    lease_seconds=self.settings.relay_lease_seconds,
                    paused=self.providers.paused_channels(),
                )
                self.heartbeat()
                if not rows:
                    break
                handled += self._deliver_all(rows)
                self.outcomes.settle_backlog()
                if len(rows) < limit:
                    break
        finally:
            # Even when the database failed: outcomes due are written now or kept for its
            # return, never left due, which would have the daemon poll again at once.
            if self.outcomes.next_write_in() == 0.0:
                self.outcomes.flush()
        return handled

    def _deliver_all(self, rows: list[claims.Claimed]) -> int:
        """Deliver a claim's rows with the senders, those to suppressed addresses as such."""
        return self.senders.deliver(rows, self._suppressed(rows))

    def _suppressed(self, rows: list[claims.Claimed]) -> set[str]:
        """The claimed rows' recipients on the suppression list (events have none): as the
        claim read it, or, for rows queued without their recipient's hash, asked now."""
        listed = {row.recipient for row in rows if row.suppressed}
        unknown = {
            row.recipient for row in rows if row.suppressed is None and row.channel != WEBHOOK
        }
        if unknown:
            listed |= self._claimer.read(
                lambda connection: self._suppressor(connection).among(connection, unknown)
            )
        return listed

    def _suppressor(self, connection: Connection) -> Suppressor:
        return Suppressor.of(connection, self.settings.secret_keys)

    def close(self) -> None:
        """Stop the senders, write what can still be written, close the connections."""
        self.senders.stop()
        self.outcomes.flush()
        try:
            self.outcomes.settle_backlog()
        except SQLAlchemyError:
            log.warning(
                "outcomes not recorded; their rows come back once their lease lapses",
                extra={"rows": self.outcomes.held()},
            )
        self.senders.close()
        self._claimer.close()

    def _after_deaths(self, connection: Connection, dead: list[store.Mark]) -> None:
        """In the transaction that marks messages dead: suppress an address refused as such
        (5.1.x, an invalid number, an opted-out recipient: the message itself stays
        `permanent_error`), and tell the application of each death (`delivery.failed`),
        never of an event's own."""
        now = utcnow()
        for one in dead:
            row = one.row
            if row.channel == WEBHOOK:
                continue
            suppression = suppression_of(one.dead_reason, one.attempt.error)
            if suppression is not None:
                self._suppressor(connection).add(
                    connection,
                    row.recipient,
                    reason=suppression,
                    source=_SOURCES[row.channel],
                    now=now,
                )
            if row.user_id is None:
                continue
            reason = failure_reason(one.dead_reason, one.attempt.error)
            user = user_by_id(connection, row.user_id)
            emit(
                connection,
                self.settings,
                self._box,
                now=now,
                event="delivery.failed",
                user_id=row.user_id,
                email=user.email if user else None,
                phone=user.phone if user else None,
                delivery_id=row.public_id,
                channel=row.channel,
                purpose=row.purpose,
                reason=reason,
            )
