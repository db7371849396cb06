"""No duplicate without a crash: a server that keeps each message at once and answers the end
of DATA past the send's timeout gets each message once, its row `sent`, the relay waiting as
RFC 5321 §4.5.3.2.6 asks while its lease is renewed, so that a second relay on the same
database never sends the row again; a reply that never comes leaves the outcome unknown and
the message retried no sooner than an hour later, as does a reply a stopping relay stopped
waiting for."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from outbox_relay.channels import smtp_wire
from outbox_relay.failures import UNANSWERED_RETRY_FLOOR
from shared.clock import utcnow
from shared.settings.smtp_url import parse_smtp_url
from support import processes
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.relays import drain_until, keep_draining
from support.rows import rows
from support.smtp_stages import StagedSmtp


@pytest.fixture(params=["stepwise", "pipelined", "chunked"])
def server(request: pytest.FixtureRequest) -> Iterator[StagedSmtp]:
    """Step by step, pipelined, or pipelined with the message as a chunk (BDAT)."""
    with StagedSmtp(
        pipelining=request.param != "stepwise", chunking=request.param == "chunked"
    ) as staged:
        yield staged


def copies(server: StagedSmtp) -> Counter[str]:
    """How many copies of each message the server kept, by Message-ID."""
    return Counter(str(message["Message-ID"]) for message in server.script.accepted)


def outcomes(engine: Engine) -> list[str]:
    return [str(attempt["outcome"]) for attempt in rows(engine, "outbox_attempts")]


def test_a_late_reply_to_the_end_of_data_is_waited_for(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """`timeout=3`, and the reply to each message 3.5 s late: waited for, never a retry. (At
    2 s, a loaded machine's (load 10) greeting or MAIL passed the timeout now and then.)"""
    server.script.set(data="late:3.5")
    queue_emails(engine, 2)
    relay = make_relay(smtp=parse_smtp_url(server.url(timeout=3.0)))
    relay.drain()
    keep_draining(relay, 1.0)
    assert sorted(copies(server).values()) == [1, 1]
    assert [row["status"] for row in rows(engine, "outbox")] == ["sent", "sent"]
    assert outcomes(engine) == ["sent", "sent"]


def test_the_lease_covers_the_wait_and_a_second_relay_does_not_send_again(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """The reply 6 s late with a 4 s lease: the sending relay renews its lease, and a second
    relay polling the same database all the while never claims the row."""
    server.script.set(data="late:6")
    queue_emails(engine, 1)
    url = parse_smtp_url(server.url(timeout=2.0))
    sending, other = (make_relay(smtp=url, relay_lease_seconds=4) for _ in range(2))
    thread = threading.Thread(target=sending.drain)
    thread.start()
    server.script.wait_for(1)
    drain_until(other, lambda: not thread.is_alive(), timeout=30)
    other.drain()
    assert list(copies(server).values()) == [1]
    [row] = rows(engine, "outbox")
    assert row["status"] == "sent"
    assert outcomes(engine) == ["sent"]


def test_a_reply_that_never_comes_is_an_unknown_outcome_retried_an_hour_later(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound cut to 1 s here (600 s in use): the message was kept, so it is not sent
    again soon; the attempt says the outcome is unknown."""
    monkeypatch.setattr(smtp_wire, "END_OF_DATA_SECONDS", 1.0)
    server.script.set(data="late:30")
    queue_emails(engine, 1)
    relay = make_relay(smtp=parse_smtp_url(server.url()))
    started = time.monotonic()
    relay.drain()
    assert time.monotonic() - started < 10
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"], outcomes(engine)) == ("pending", 1, ["transient"])
    assert "outcome unknown" in str(row["last_error"])
    soonest = utcnow() + timedelta(seconds=UNANSWERED_RETRY_FLOOR - 60)
    assert row["next_attempt_at"].replace(tzinfo=soonest.tzinfo) > soonest
    assert list(copies(server).values()) == [1]


def test_a_stop_breaks_off_a_late_reply_after_relay_stop_seconds_and_exits_0(
    env: dict[str, str], engine: Engine, server: StagedSmtp, tmp_path: Path
) -> None:
    """SIGTERM while the reply to the end of DATA is late: the relay waits RELAY_STOP_SECONDS
    (1 s here; 60 in use, under the unit's TimeoutStopSec=90), then records the outcome as
    unknown, retried no sooner than an hour later, and exits 0, rather than being killed by
    systemd with the message's lease held and its outcome lost."""
    server.script.set(data="late:120")
    queue_emails(engine, 1)
    relay = processes.relay({**env, "SMTP_URL": server.url(), "RELAY_STOP_SECONDS": "1"}, tmp_path)
    try:
        processes.eventually(lambda: len(server.script.accepted) == 1, 60, "the message kept")
    finally:
        code = processes.stop(relay, signal.SIGTERM, timeout=60)
    assert code == 0
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"], row["claim_token"]) == ("pending", 1, None)
    assert "outcome unknown" in str(row["last_error"])
    soonest = utcnow() + timedelta(seconds=UNANSWERED_RETRY_FLOOR - 60)
    assert row["next_attempt_at"].replace(tzinfo=soonest.tzinfo) > soonest
    assert list(copies(server).values()) == [1]
