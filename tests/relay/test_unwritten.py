"""The rows claimed and not yet written, counted in one place: from each claim until each row's
outcome is written or the row is handed back, never more than a batch."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine

from outbox_relay.unwritten import Unwritten
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.relays import drain_to_rest
from support.rows import rows
from support.smtp_sink import SinkServer


def test_the_wait_ends_once_the_rows_are_down_to_the_count_wanted() -> None:
    unwritten = Unwritten()
    unwritten.claimed(4)
    unwritten.done(1)
    assert unwritten.count == 3
    woken: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        unwritten.wait(1, 60.0)
        woken.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    unwritten.done(1)  # 2 left: not yet
    time.sleep(0.05)
    assert woken == []
    unwritten.done(1)
    waiter.join(30.0)
    assert woken and woken[0] < 30.0 and unwritten.count == 1


def test_the_wait_gives_up_after_its_timeout() -> None:
    unwritten = Unwritten()
    unwritten.claimed(2)
    started = time.monotonic()
    unwritten.wait(0, 0.05)
    assert time.monotonic() - started >= 0.05 and unwritten.count == 2


def test_a_drain_holds_no_more_than_a_batch_unwritten_and_leaves_none(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_emails(engine, 25)
    relay = make_relay(relay_batch_size=10, relay_concurrency=3)
    unwritten = relay.outcomes.unwritten
    seen: list[int] = []
    claimed = unwritten.claimed

    def counted(count: int) -> None:
        claimed(count)
        seen.append(unwritten.count)

    monkeypatch.setattr(unwritten, "claimed", counted)
    drain_to_rest(relay)
    assert {row["status"] for row in rows(engine, "outbox")} == {"sent"}
    assert len(seen) >= 3 and max(seen) <= 10
    assert unwritten.count == 0
