"""The leases of the rows a relay is sending, renewed while their sends run, so that no other
relay claims a row this one may still be handing over."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.claims import Claimed
from shared.clock import utcnow
from shared.database.models import outbox
from shared.settings.config import Settings

log = logging.getLogger(__name__)

# How soon a renewal the database could not take is tried again.
RETRY_RENEWAL = timedelta(seconds=1)

# A lease renewed to :until, the row's `next_attempt_at` with it (as a claim sets both), while
# :token still holds it and its lease still runs at :now: a lapsed lease is never taken back.
_RENEW = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("row_id"),
        outbox.c.claim_token == bindparam("token"),
        outbox.c.locked_until > bindparam("now", type_=outbox.c.locked_until.type),
    )
    .values(
        locked_until=bindparam("until", type_=outbox.c.locked_until.type),
        next_attempt_at=bindparam("until", type_=outbox.c.locked_until.type),
    )
)


def start_by(row: Claimed, settings: Settings) -> float:
    """The last moment (time.monotonic) a send of `row` may start and end in its lease.

    Reckoned from the clock now, not from when the row's delivery began: what came between
    (a budget's query, a busy machine) has used part of the lease.
    """
    left = (row.locked_until - utcnow()).total_seconds() - settings.longest_send - 1
    return time.monotonic() + left


class LeaseKeeper:
    """Renews the lease of each row whose send is still running halfway through it.

    A send starts only while its lease covers its timeout (senders), but two waits may outlast
    it: the reply to the end of DATA, which RFC 5321 §4.5.3.2.6 gives 10 minutes because the
    message is already delivered when it is late (RFC 1047), and a wait for a session or a rate
    slot that a loaded machine wakes from late. A lease that lapsed meanwhile would let another
    relay claim the row and send it again. One thread renews them all, one statement a row,
    and only for sends that last that long.
    """

    def __init__(self, engine: Engine, lease_seconds: int) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._cond = threading.Condition()
        # Each row in flight, and when its lease is next renewed.
        self._renew_at: dict[int, tuple[Claimed, datetime]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        # While the renewing thread waits: until when (None: until told). A send whose renewal
        # comes no sooner wakes nobody: a claim's rows share one lease, so a wake a message
        # would find nothing due.
        self._asleep = False
        self._wakes_at: datetime | None = None

    @contextmanager
    def holding(self, row: Claimed) -> Iterator[None]:
        """Keep `row`'s lease running for as long as the block runs."""
        when = row.locked_until - self._lease / 2
        with self._cond:
            self._renew_at[row.id] = (row, when)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self._thread.start()
            elif self._asleep and (self._wakes_at is None or when < self._wakes_at):
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._renew_at.pop(row.id, None)

    def close(self) -> None:
        """Stop renewing."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while (due := self._next_due()) is not None:
            for row in due:
                self._renew(row)

    def _next_due(self) -> list[Claimed] | None:
        """Wait for the rows whose renewal has come; None once closed."""
        with self._cond:
            while not self._closed:
                now = utcnow()
                due = [row for row, when in self._renew_at.values() if when <= now]
                if due:
                    return due
                soonest = min((when for _, when in self._renew_at.values()), default=None)
                self._asleep, self._wakes_at = True, soonest
                try:
                    self._cond.wait(None if soonest is None else (soonest - now).total_seconds())
                finally:
                    self._asleep = False
            return None

    def _renew(self, row: Claimed) -> None:
        now = utcnow()
        until = now + self._lease
        values = {"row_id": row.id, "token": row.claim_token, "now": now, "until": until}
        try:
            with self._engine.begin() as connection:
                renewed = connection.execute(_RENEW, values).rowcount == 1
        except SQLAlchemyError:
            log.warning("lease not renewed: database away", extra={"id": row.public_id})
            self._schedule(row, now + RETRY_RENEWAL)
            return
        if not renewed:
            log.warning("lease lost while sending", extra={"id": row.public_id})
            self._schedule(row, None)
            return
        self._schedule(row, until - self._lease / 2)

    def _schedule(self, row: Claimed, when: datetime | None) -> None:
        """Renew `row` next at `when` (never again: None), if its send still runs."""
        with self._cond:
            held = self._renew_at.get(row.id)
            if held is None or held[0] is not row:
                return
            if when is None:
                del self._renew_at[row.id]
            else:
                self._renew_at[row.id] = (row, when)
