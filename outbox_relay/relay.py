"""The relay: claims batches of due rows and hands them to its senders (built by
bootstrap.build_relay)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import claims
from outbox_relay.channel_providers import Providers
from outbox_relay.outcomes import FLUSH_SECONDS, OutcomeBook
from outbox_relay.senders import Senders
from outbox_relay.shared_pauses import SharedPauses
from shared.clock import utcnow
from shared.messaging.outbox import WEBHOOK
from shared.messaging.suppressions import LazySuppressor
from shared.settings.config import Settings

log = logging.getLogger(__name__)


class Relay:
    """Claims due rows and delivers each with one of `concurrency` senders.

    Each sender uses the first provider of the row's channel that is up. A failure that is the
    provider's pauses it for every sender (providers.Provider) and the row waits, due again at
    once for a fallback; while no provider of a channel is up, its rows are not claimed. An
    operator's pauses are obeyed within a poll (shared_pauses.SharedPauses).
    `heartbeat` is called whenever the relay makes progress (a claim, an outcome written).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        claimer: claims.Claimer,
        providers: Providers,
        pauses: SharedPauses,
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
        self._pauses = pauses
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
        """Claim and deliver rows until nothing is due; the number of rows handled.

        The rows claimed and not yet written (in flight, or their outcomes waiting: counted in
        one place, unwritten.Unwritten) never add up to more than a batch, so that a crash
        repeats at most a batch of sends; once half of them are written, the next claim takes
        as many again, so that the senders never wait for a claim or a write. A lone row's
        outcome is written at once; those of many rows a half batch at a time
        (outcomes.OutcomeBook), and all before this returns.
        """
        handled = 0
        try:
            self.outcomes.settle_backlog()
            while not self.stopping.is_set():
                limit = self._room()
                self._pauses.refresh()
                rows = self._claimer.claim(
                    now=utcnow(),
                    limit=limit,
                    lease_seconds=self.settings.relay_lease_seconds,
                    paused=self.providers.paused_channels(),
                    fallback_before=self._fallback_before(),
                )
                self._heartbeat()
                if not rows:
                    break
                handled += len(rows)
                self.outcomes.unwritten.claimed(len(rows))
                self.senders.start(rows, self._suppressed(rows))
                self.outcomes.settle_backlog()
                if len(rows) < limit:
                    break
        finally:
            self.senders.finish()
            # Even when the database failed: outcomes due are written now or kept for its
            # return, never left due, which would have the daemon poll again at once.
            if self.outcomes.next_write_in() == 0.0:
                self.outcomes.flush()
        return handled

    def _fallback_before(self) -> datetime | None:
        """Codes written before this have waited CODE_FALLBACK_AFTER: those of a channel with
        no provider up are claimed for their fallback (None: no fallback)."""
        after = self.settings.code_fallback_after
        return utcnow() - timedelta(seconds=after) if after is not None else None

    def _room(self) -> int:
        """How many rows the next claim may take, once no more than half a batch is held (in
        flight or waiting to be written); timed writes fall due meanwhile."""
        batch = self.settings.relay_batch_size
        unwritten = self.outcomes.unwritten
        while (held := unwritten.count) > batch // 2 and not self.stopping.is_set():
            self.outcomes.write_due()
            unwritten.wait(batch // 2, self.outcomes.next_write_in() or FLUSH_SECONDS)
        return batch - held

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
