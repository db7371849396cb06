"""An idle session is not an outage: a session the server closed while it sat idle is replaced
at once, the next mail delayed by no more than a new session takes, nothing paused nor counted
(Debian's Postfix doing the same: tests/e2e/test_postfix_idle.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from outbox_relay.channels import Email
from outbox_relay.channels.smtp import IDLE_CHECK_SECONDS, SmtpChannel
from shared.settings.smtp_url import parse_smtp_url
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.processes import eventually
from support.relays import drain_until
from support.rows import outcomes, rows, statuses
from support.smtp_sink import SinkServer

# The server's idle timeout: under the relay's NOOP bound, so that only the check every reuse
# makes (or the retry of a send that found the session closed) can save the next mail.
IDLE = 1.0
# What a server closing idle sessions after 3 s may add to the next mail: less than those 3 s.
DELAY_BOUND = 3.0
MAIL = b"Subject: hello\r\n\r\nHello.\r\n"


@pytest.fixture(params=[True, False], ids=["says-421", "silent"])
def closing(request: pytest.FixtureRequest) -> Iterator[SinkServer]:
    """A server closing sessions idle for IDLE seconds: saying `421 4.4.2 … timeout exceeded`
    first as Postfix does, or hanging up without a word as aiosmtpd does."""
    with SinkServer(IDLE, says_timeout=request.param) as server:
        yield server


def test_a_session_the_server_closed_idle_is_replaced_and_nothing_paused(
    engine: Engine,
    make_relay: MakeRelay,
    closing: SinkServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert IDLE < IDLE_CHECK_SECONDS
    caplog.set_level(logging.INFO, logger="outbox_relay")
    relay = make_relay(smtp=parse_smtp_url(closing.url()), relay_concurrency=1)
    queue_emails(engine, 1, prefix="before")
    assert relay.drain() == 1
    eventually(lambda: closing.sink.timeouts == 1, 10 + IDLE, "the idle session closed")
    queue_emails(engine, 1, prefix="after")
    started = time.monotonic()
    drain_until(relay, lambda: statuses(engine) == {"sent": 2}, 10)
    assert time.monotonic() - started < DELAY_BOUND
    assert outcomes(engine) == {"sent": 2}
    assert {row["attempts"] for row in rows(engine, "outbox")} == {1}
    assert [r for r in caplog.records if r.getMessage() == "provider paused"] == []
    assert closing.sink.connections == 2


def test_a_session_closed_while_its_send_waited_for_a_rate_slot_is_replaced_at_once(
    closing: SinkServer,
) -> None:
    """The server closes the kept session after the check the send made of it, while the send
    waits for its SMTP_RATE slot: the send, which the server answered nothing, goes over a new
    session rather than failing as the provider's."""
    sends = []

    def pace(start_by: float, priority: int) -> None:
        if sends:
            eventually(lambda: closing.sink.timeouts == 1, 10 + IDLE, "the session closed")
        sends.append(start_by)

    channel = SmtpChannel(parse_smtp_url(closing.url()), pace)
    for n in range(2):
        mail = Email(f"id{n}", "relay@example.com", f"user{n}@example.com", MAIL)
        channel.send(mail, time.monotonic() + 30)
    channel.close()
    assert len(closing.sink.wait_for(2)) == 2
    assert closing.sink.connections == 2
