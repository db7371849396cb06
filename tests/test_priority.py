"""Priority within a claimed batch: rows that carry a code go to the provider first, under
SMTP_RATE too."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from outbox_relay.pacing import Pacer
from shared.provider_events import public_id_of
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
