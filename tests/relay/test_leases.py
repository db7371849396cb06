"""The lease keeper (outbox_relay/leases.py): a send's lease renewed halfway through it, even
when it comes due before the renewal the keeper sleeps towards."""

from __future__ import annotations

import time
from contextlib import closing

from sqlalchemy import Engine

from outbox_relay import claims
from outbox_relay.leases import LeaseKeeper
from shared.clock import utcnow
from support.bulk import queue_emails
from support.rows import rows

LEASE_SECONDS = 4


def _locked_until(engine: Engine, row: claims.Claimed) -> object:
    [found] = [r["locked_until"] for r in rows(engine, "outbox") if r["id"] == row.id]
    return found


def test_a_send_due_for_renewal_before_the_keepers_next_wake_is_renewed_in_time(
    engine: Engine,
) -> None:
    queue_emails(engine, 2)
    with closing(claims.Claimer(engine)) as claimer:
        [late] = claimer.claim(now=utcnow(), limit=1, lease_seconds=600)
        # Its renewal is due at once: half of the keeper's lease before its end.
        [soon] = claimer.claim(now=utcnow(), limit=1, lease_seconds=LEASE_SECONDS // 2)
    keeper = LeaseKeeper(engine, LEASE_SECONDS)
    try:
        with keeper.holding(late):
            # Until the keeper sleeps towards `late`'s renewal, ten minutes away.
            deadline = time.monotonic() + 30
            while not keeper._asleep and time.monotonic() < deadline:
                time.sleep(0.01)
            assert keeper._asleep
            before = _locked_until(engine, soon)
            started = time.monotonic()
            with keeper.holding(soon):
                while _locked_until(engine, soon) == before and time.monotonic() - started < 30:
                    time.sleep(0.05)
                waited = time.monotonic() - started
        assert _locked_until(engine, soon) != before, "the lease was never renewed"
        assert waited < 30
        assert _locked_until(engine, late) == late.locked_until, "not due: left alone"
    finally:
        keeper.close()
