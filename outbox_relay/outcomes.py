"""The outcomes of a relay's sends on their way to the database: collected, written a batch
at a time, and kept through a database outage with the rows left untried meanwhile (what each
outcome is, and does to its row, is decide.py's)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay import claims, decide, metrics, releases, store
from outbox_relay.deaths import Deaths
from outbox_relay.decide import Outcome
from outbox_relay.fallbacks import Fallbacks
from outbox_relay.sent_events import SentEvents
from outbox_relay.unwritten import Unwritten
from shared.clock import utcnow
from shared.messaging.outbox import FAILED_ATTEMPTS, AttemptOutcome, Ending
from shared.runtime import logs

log = logging.getLogger(__name__)

# Longest an outcome of a claim of many rows waits to be written with others: far below any
# lease; nor does more than a batch ever wait (Relay.deliver_due: what a crash repeats).
FLUSH_SECONDS = 0.5


class OutcomeBook:
    """Owns every outcome not yet in the database, and the rows to hand back, under one lock.

    An outcome is written at once when no write is under way, so that a relay fed one message
    at a time has it on its row within milliseconds of the provider's answer. Outcomes that
    come while a write is under way are written together right after it; those of a claim of
    many rows (`batching`) half a batch at a time (the relay claims again once half its batch
    is written: Relay.deliver_due), and at the latest FLUSH_SECONDS after the previous write,
    so that no lease runs out meanwhile. While the database is away, outcomes are kept
    (unsettled) and rows not yet tried are kept (untried); `settle_backlog` writes and hands
    them back once it answers.
    """

    def __init__(
        self,
        engine: Engine,
        batch_size: int,
        *,
        heartbeat: Callable[[], None],
        deaths: Deaths,
        sent: SentEvents,
        fallbacks: Fallbacks,
    ) -> None:
        self._engine = engine
        self._deaths = deaths
        self._sent = sent
        self._fallbacks = fallbacks
        self._batch_size = batch_size
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        # Held by the one thread writing outcomes, so that a recount sees an outcome either
        # waiting or written.
        self._writing = threading.Lock()
        self._claims_batching = 0
        self._collected: list[Outcome] = []
        self._last_flush = time.monotonic()
        self._unsettled: list[Outcome] = []
        self._untried: list[claims.Claimed] = []
        self._database_lost = threading.Event()
        # The relay's claimed rows until each is written here or handed back (Relay._room).
        self.unwritten = Unwritten()
        # PostgreSQL writes a lone delivered outcome in one statement, on a connection kept
        # for it (store.mark_delivered); one thread at a time uses it.
        self._kept = claims.Claimer(engine) if engine.dialect.name == "postgresql" else None
        self._kept_lock = threading.Lock()

    @property
    def database_lost(self) -> bool:
        """Whether a write failed since the backlog was last settled: send nothing meanwhile."""
        return self._database_lost.is_set()

    def held(self) -> int:
        """Outcomes and rows kept for the database's return."""
        with self._lock:
            return len(self._unsettled) + len(self._untried)

    def next_write_in(self) -> float | None:
        """Seconds until the outcomes not yet written are due; None when there are none."""
        with self._lock:
            return self._write_in()

    def _write_in(self) -> float | None:
        if not self._collected:
            return None
        if not self._claims_batching or len(self._collected) >= max(1, self._batch_size // 2):
            return 0.0
        return max(0.0, FLUSH_SECONDS - (time.monotonic() - self._last_flush))

    @contextmanager
    def batching(self) -> Iterator[None]:
        """Write the outcomes collected meanwhile half a batch at a time (claims of many rows:
        one transaction instead of one a row), then whatever is left."""
        with self._lock:
            self._claims_batching += 1
        try:
            yield
        finally:
            with self._lock:
                self._claims_batching -= 1
            self.flush()

    def collect(self, outcome: Outcome) -> None:
        """Keep an outcome for the next write, and write now if that is due."""
        with self._lock:
            self._collected.append(outcome)
        self.write_due()

    def flush(self) -> None:
        """Write every collected outcome, in one transaction unless more come meanwhile."""
        with self._writing:
            self._write_collected()
        self.write_due()

    def write_due(self) -> None:
        """Write the collected outcomes if they are due, unless another thread is writing:
        that one writes them once its own write is done (it looks again after each)."""
        while True:
            with self._lock:
                if self._write_in() != 0.0:
                    return
            if not self._writing.acquire(blocking=False):
                return
            try:
                self._write_collected()
            finally:
                self._writing.release()

    def _write_collected(self) -> None:
        with self._lock:
            outcomes, self._collected = self._collected, []
            self._last_flush = time.monotonic()
        if outcomes:
            self._settle(outcomes)

    def recount(self, counted: Outcome) -> None:
        """Count a failure recorded as the provider's (`provider_down`) as its message's try:
        `counted` replaces that outcome while it waits, else is written over it."""
        with self._writing:
            with self._lock:
                for waiting in (self._collected, self._unsettled):
                    for i, outcome in enumerate(waiting):
                        if (
                            outcome.row.id == counted.row.id
                            and outcome.name is Ending.PROVIDER_DOWN
                        ):
                            waiting[i] = counted
                            return
            if store.recount(
                self._engine, decide.mark(counted, utcnow()), on_dead=self._deaths.follow
            ):
                self._record(counted, True)
        # Outcomes collected meanwhile found the write taken, and wait for a writer.
        self.write_due()

    def hand_back(self, row: claims.Claimed, due: datetime, *, fallback: bool = False) -> None:
        """Release a row untried, due again at `due`, its code on the other channel too if it
        falls back; or keep it for when the database is back (its fallback decided again)."""
        if not self._database_lost.is_set():
            falls_back = self._fallbacks.follow if fallback else None
            try:
                releases.release(self._engine, [row], due, on_fallback=falls_back)
                self.unwritten.done(1)
                return
            except SQLAlchemyError:
                self._database_lost.set()
        with self._lock:
            self._untried.append(row)
        self.unwritten.done(1)

    def settle_backlog(self) -> None:
        """Write the outcomes kept while the database was away; raise if it still is.

        Each is written as of now, so one whose lease lapsed meanwhile changes nothing and its
        row is delivered again: at-least-once, never a mark without a lease.
        """
        if not (self._database_lost.is_set() or self._unsettled or self._untried):
            return  # the usual case, twice a claim: no lock taken
        with self._writing, self._lock:
            waiting, self._unsettled = self._unsettled, []
            untried, self._untried = self._untried, []
        try:
            kept = self._write(waiting)
        except SQLAlchemyError:
            with self._lock:
                self._unsettled[:0] = waiting
                self._untried[:0] = untried
            raise
        for outcome in waiting:
            self._record(outcome, outcome.row.id in kept, late=True)
        try:
            releases.release(self._engine, untried, utcnow())
        except SQLAlchemyError:
            with self._lock:
                self._untried[:0] = untried
            raise
        self._database_lost.clear()

    def _settle(self, outcomes: list[Outcome]) -> None:
        """Write outcomes now, or keep them for when the database is back."""
        try:
            kept = self._write(outcomes)
        except SQLAlchemyError as exc:
            self._database_lost.set()
            with self._lock:
                self._unsettled.extend(outcomes)
            self.unwritten.done(len(outcomes))
            log.warning(
                "outcomes kept until the database is back",
                extra={"rows": len(outcomes), "error": type(exc).__name__},
            )
            return
        self.unwritten.done(len(outcomes))
        with logs.together():
            for outcome in outcomes:
                self._record(outcome, outcome.row.id in kept)

    def _write(self, outcomes: list[Outcome]) -> set[int]:
        """Write outcomes as of now; the ids of rows whose lease held (the others are unchanged)."""
        if not outcomes:
            return set()
        at = utcnow()
        marks = [decide.mark(outcome, at) for outcome in outcomes]
        told = self._sent.subscribed()
        lone = len(marks) == 1 and outcomes[0].name is Ending.SENT
        if self._kept is not None and lone and not told:
            kept = self._kept
            with self._kept_lock:
                return kept.run(lambda connection: store.mark_delivered(connection, marks, at))
        on_sent = self._sent.follow if told else None
        return store.mark(
            self._engine,
            marks,
            at,
            on_dead=self._deaths.follow,
            on_sent=on_sent,
            on_fallback=self._fallbacks.follow,
        )

    def close(self) -> None:
        """Close the connection kept for lone outcomes."""
        if self._kept is not None:
            with self._kept_lock:
                self._kept.close()

    def _record(self, outcome: Outcome, kept: bool, *, late: bool = False) -> None:
        """Count and log one written outcome."""
        self._heartbeat()
        row = outcome.row
        metrics.labelled(metrics.MESSAGES, row.channel, outcome.name).inc()
        if kept:
            _count(outcome)
        fields: dict[str, Any] = {
            "id": row.public_id,
            "channel": row.channel,
            "purpose": row.purpose,
            "attempt": row.attempts + 1,
            "outcome": outcome.name,
            "ms": outcome.ms,
            "lease_lost": not kept,
        }
        if outcome.error is not None:
            fields["error"] = outcome.error
        if outcome.retry_in is not None:
            fields["retry_in_s"] = round(outcome.retry_in, 3)
        if late:
            fields["recorded_late"] = True
        done = outcome.name in (Ending.SENT, Ending.WITHHELD)
        level = logging.INFO if done and kept else logging.WARNING
        log.log(level, "delivery %s", outcome.name, extra=fields)


def _count(outcome: Outcome) -> None:
    """Count a recorded outcome as what it is: a message dead, an attempt failed for the
    message, or one that met a provider that was down."""
    channel, attempt = outcome.row.channel, outcome.name.attempt
    if outcome.name.dead_reason is not None:
        metrics.DEAD.labels(channel, outcome.name.dead_reason).inc()
    if attempt in FAILED_ATTEMPTS:
        metrics.FAILED_ATTEMPTS.labels(channel, attempt).inc()
    elif attempt is AttemptOutcome.PROVIDER_DOWN:
        metrics.PROVIDER_DOWN_ATTEMPTS.labels(channel).inc()
