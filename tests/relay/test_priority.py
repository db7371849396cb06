"""Priority within a claimed batch: rows that carry a code go to the provider first, under
SMTP_RATE too."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, update

from outbox_relay.pacing import Pacer
from outbox_relay.sessions import Sessions
from shared.database.models import outbox
from shared.reports.provider_events import public_id_of
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.smtp_sink import SinkServer


def test_codes_in_a_claim_reach_the_server_before_its_notices_under_smtp_rate(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    queue_emails(engine, 40, prefix="notice")
    codes = queue_emails(engine, 12, prefix="code", purpose="activation")
    relay = make_relay(smtp_rate=20.0, relay_concurrency=4)
    assert relay.drain() == 52, "one claim of them all"
    order = [public_id_of(str(mail["Message-ID"])) for mail in smtp.sink.received]
    assert set(order[:12]) == set(codes), order.index(codes[-1])


def test_codes_claimed_after_a_backlog_of_notices_leave_first_with_every_sender(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """Issue 62's case, at the default RELAY_CONCURRENCY: the sessions a polite sender opens
    are fewer than its senders at first, and go to the codes first, not to whichever sender
    thread wakes first (11 to 16 notices went before the last code when they did)."""
    queue_emails(engine, 60, prefix="notice")
    codes = queue_emails(engine, 15, prefix="code", purpose="activation")
    relay = make_relay(smtp_rate=20.0)
    assert relay.drain() == 75, "one claim of them all"
    order = [public_id_of(str(mail["Message-ID"])) for mail in smtp.sink.received]
    assert set(order[:15]) == set(codes), [order.index(code) for code in codes]


def test_the_pacer_gives_the_next_slot_to_a_code_that_came_after_a_notice(
    engine: Engine,
) -> None:
    pacer = Pacer(engine, 5.0)
    handed: list[str] = []

    def send(name: str, priority: int) -> None:
        pacer.pace("smtp", time.monotonic() + 10, priority)
        handed.append(name)

    send("first notice", 1)  # its slot is now; the next comes 0.2 s later
    waiting = threading.Thread(target=send, args=("notice", 1))
    waiting.start()
    time.sleep(0.05)  # the notice waits for the slot at 0.2 s when the code comes
    send("code", 0)
    waiting.join()
    assert handed == ["first notice", "code", "notice"]


def _until_waiting(sessions: Sessions, count: int) -> None:
    """Until `count` sends wait in the sessions' line, however busy the machine."""
    while len(sessions._line) < count:
        time.sleep(0.01)


class _Channel:
    """A session stand-in: Sessions only lends and closes it."""

    def close(self) -> None:
        return None


def test_a_freed_session_goes_to_the_code_that_waits_not_the_notice_before_it() -> None:
    sessions = Sessions(_Channel, 4)  # type: ignore[arg-type]
    held = sessions.borrow(time.monotonic() + 10, lambda: True, 1)
    lent: list[str] = []

    def wait(name: str, priority: int) -> None:
        channel = sessions.borrow(time.monotonic() + 10, lambda: True, priority)
        lent.append(name)
        sessions.give_back(channel, keep=True)

    notice = threading.Thread(target=wait, args=("notice", 1))
    notice.start()
    _until_waiting(sessions, 1)  # for the one session the provider has allowed so far
    code = threading.Thread(target=wait, args=("code", 0))
    code.start()
    _until_waiting(sessions, 2)
    sessions.give_back(held, keep=True)
    notice.join(10)
    code.join(10)
    assert lent == ["code", "notice"]


def test_the_relay_sends_in_the_order_the_rows_store_not_one_it_recomputes(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    """The claim carries each row's stored priority: notices stored first go first."""
    codes = queue_emails(engine, 12, prefix="code", purpose="activation")
    notices = queue_emails(engine, 12, prefix="notice")
    with engine.begin() as connection:
        connection.execute(update(outbox).values(priority=1 - outbox.c.priority))
    relay = make_relay(smtp_rate=20.0, relay_concurrency=4)
    assert relay.drain() == 24, "one claim of them all"
    order = [public_id_of(str(mail["Message-ID"])) for mail in smtp.sink.received]
    assert set(order[:12]) == set(notices), [order.index(code) for code in codes]
