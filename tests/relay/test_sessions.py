"""Sessions' bookkeeping of the channels it lends, with stand-in channels: what a real server
makes of it is tested against Postfix and a staged server (tests/e2e/test_connection_rate.py)."""

from __future__ import annotations

import time

import pytest

from outbox_relay.failures import Deferred, Stage, smtp_failure
from outbox_relay.sessions import Sessions

# What Postfix answers at the greeting past its connection count or rate limit.
TOO_MANY = "4.7.0 mx.test Error: too many connections from 127.0.0.1"


class _Channel:
    """A session stand-in that remembers being closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _borrow(sessions: Sessions) -> _Channel:
    channel = sessions.borrow(time.monotonic() + 10, lambda: True, 0)
    assert isinstance(channel, _Channel)
    return channel


def test_a_session_refused_at_the_greeting_closes_none_that_delivers() -> None:
    """Three sessions deliver, a fourth is refused (`421 too many connections`): the limit
    falls to the three, and a delivering one given back while the refused one is still lent
    stays open. Closing it left none open, and the next refusal then read as an outage that
    paused the provider (seen against Postfix's anvil)."""
    sessions = Sessions(_Channel, 16)  # type: ignore[arg-type]
    delivering = []
    for _ in range(3):
        delivering.append(_borrow(sessions))
        sessions.accepted(delivering[-1], 0.01)  # the slow start: one more each
    refused = _borrow(sessions)
    with pytest.raises(Deferred):  # a rate limit: others deliver, the message goes back
        sessions.judge(smtp_failure(Stage.GREETING, 421, TOO_MANY), "smtp", refused)  # type: ignore[arg-type]
    assert sessions.allowed == 3
    sessions.give_back(delivering[0], keep=True)
    assert not delivering[0].closed
    sessions.give_back(refused, keep=False)
    assert refused.closed
    assert _borrow(sessions) is delivering[0]


def test_a_session_that_delivers_is_not_closed_for_one_still_opening() -> None:
    """One session delivers and earns a second, which is opening when the limit falls back to
    one: the delivering one, given back, stays open, so that the new one's `421` at the
    greeting is read as a rate limit. Closing it left none open, and that refusal then read as
    an outage that paused the provider (seen against Postfix's anvil, on a loaded machine)."""
    sessions = Sessions(_Channel, 16)  # type: ignore[arg-type]
    delivering = _borrow(sessions)
    sessions.accepted(delivering, 0.01)  # the slow start: a second session allowed
    opening = _borrow(sessions)
    sessions.halve()
    assert sessions.allowed == 1
    sessions.give_back(delivering, keep=True)
    assert not delivering.closed
    with pytest.raises(Deferred):
        sessions.judge(smtp_failure(Stage.GREETING, 421, TOO_MANY), "smtp", opening)  # type: ignore[arg-type]
    sessions.give_back(opening, keep=False)
    assert opening.closed
    assert _borrow(sessions) is delivering
