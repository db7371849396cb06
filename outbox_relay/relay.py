"""The relay: claims batches of due rows and hands them to its senders (built by
bootstrap.build_relay)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import claims
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.providers import Providers
from outbox_relay.senders import Senders
from shared.clock import utcnow
from shared.outbox import WEBHOOK
from shared.settings.config import Settings
from shared.suppressions import LazySuppressor

log = logging.getLogger(__name__)


class Relay:
    """Claims due rows and delivers each with one of `concurrency` senders.

    Each sender uses the first provider of the row's channel that is up. A failure that is the
    provider's pauses it for every sender (providers.Provider) and the row waits, due again at
    once for a fallback; while no provider of a channel is up, its rows are not claimed.
    `heartbeat` is called whenever the relay makes progress (a claim, an outcome written).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        claimer: claims.Claimer,
        providers: Providers,
        outcomes: OutcomeBook,
        senders: Senders,
        suppression: LazySuppressor,
        stopping: threading.Event,
        heartbeat: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._claimer = claimer
        self.providers = providers
        self.outcomes = outcomes
        self.senders = senders
        self._suppression = suppression
        self.stopping = stopping
        self._heartbeat = heartbeat

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
                self._heartbeat()
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

    def _suppressed(self, rows: list[claims.Claimed]) -> set[int]:
        """The ids of the claimed rows whose recipient the suppression list holds for them
        (events have none): as the claim read it, or, for rows queued without their
        recipient's hash, asked now."""
        listed = {row.id for row in rows if row.suppressed}
        unknown = {
            row.recipient for row in rows if row.suppressed is None and row.channel != WEBHOOK
        }
        if unknown:
            found = self._claimer.run(
                lambda connection: self._suppression.of(connection).among(connection, unknown)
            )
            listed |= {row.id for row in rows if row.recipient in found}
        return listed

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
        self.outcomes.close()
        self._claimer.close()
