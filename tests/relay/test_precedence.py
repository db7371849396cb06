"""Precedence: a notice waits for the codes handed over before it, whichever thread runs first."""

from __future__ import annotations

import threading
import time

import pytest

from outbox_relay.failures import Deferred
from outbox_relay.precedence import Precedence, Ticket
from shared.messaging.outbox import Channel

FAR = 60.0


def _waiting(precedence: Precedence, ticket: Ticket) -> tuple[threading.Thread, list[str]]:
    """A thread waiting for `ticket`'s turn, and what it noted: `went` once its turn came."""
    noted: list[str] = []

    def wait() -> None:
        ticket.wait(time.monotonic() + FAR)
        noted.append("went")

    thread = threading.Thread(target=wait)
    thread.start()
    while not precedence._waiting and thread.is_alive():
        time.sleep(0.005)
    return thread, noted


def test_a_notice_that_asks_first_waits_until_the_codes_handed_over_before_it_are_answered() -> (
    None
):
    precedence = Precedence()
    codes = [precedence.enter(Channel.EMAIL, 0) for _ in range(2)]
    notice = precedence.enter(Channel.EMAIL, 1)
    thread, noted = _waiting(precedence, notice)
    codes[1].leave()  # answered out of order: the first code is still open
    thread.join(0.2)
    assert noted == []
    codes[0].leave()
    thread.join(FAR)
    assert noted == ["went"]


def test_a_notice_handed_over_before_a_code_does_not_wait_for_it() -> None:
    """The code is behind it in the senders' queue: waiting for it could wait for ever."""
    precedence = Precedence()
    notice = precedence.enter(Channel.EMAIL, 1)
    precedence.enter(Channel.EMAIL, 0)
    notice.wait(time.monotonic())


def test_codes_wait_for_nothing_and_an_sms_code_holds_back_sms_notices_only() -> None:
    precedence = Precedence()
    precedence.enter(Channel.EMAIL, 1)
    precedence.enter(Channel.SMS, 0)
    email_code = precedence.enter(Channel.EMAIL, 0)
    email_code.wait(time.monotonic())
    email_code.leave()
    precedence.enter(Channel.EMAIL, 1).wait(time.monotonic())
    with pytest.raises(Deferred):
        precedence.enter(Channel.SMS, 1).wait(time.monotonic() + 0.05)


def test_a_notice_whose_lease_runs_short_waiting_is_deferred_and_those_after_go_on() -> None:
    precedence = Precedence()
    code = precedence.enter(Channel.EMAIL, 0)
    late = precedence.enter(Channel.EMAIL, 1)
    with pytest.raises(Deferred):
        late.wait(time.monotonic() + 0.05)
    late.leave()
    code.leave()
    code.leave()  # twice is once
    after = precedence.enter(Channel.EMAIL, 1)
    after.wait(time.monotonic())
    after.leave()
    assert all(not numbers for numbers in precedence._open.values()), "none kept"
