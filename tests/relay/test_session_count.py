"""The sessions a provider is worth: a slow start, then as many as keep the sends from queueing
on our side (outbox_relay/session_count.py), on a clock of the test's own."""

from __future__ import annotations

import itertools

from outbox_relay.session_count import BUSY_FLOOR, FLOOR_WINDOW, SessionCount


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sends(count: SessionCount, clock: Clock, seconds_at: object, sends: int) -> list[int]:
    """`sends` sends over sessions that sent before, each taking `seconds_at(allowed)`; the
    sessions allowed after each."""
    allowed = []
    for _ in range(sends):
        seconds = seconds_at(count.allowed)  # type: ignore[operator]
        clock.now += seconds / count.allowed
        count.accepted(seconds)
        allowed.append(count.allowed)
    return allowed


def test_each_session_opened_earns_one_more_up_to_the_limit() -> None:
    count = SessionCount(4)
    assert count.allowed == 1
    assert [count.opened() for _ in range(5)] == [True, True, True, False, False]
    assert count.allowed == 4


def test_a_provider_far_away_earns_every_session() -> None:
    """100 ms a message whatever the sessions, give or take 5 ms: all 32."""
    clock = Clock()
    count = SessionCount(32, clock)
    jitter = iter([0.0, 0.005, -0.005, 0.003] * 100)
    allowed = _sends(count, clock, lambda _: 0.1 + next(jitter), 200)
    assert allowed[-1] == 32
    assert allowed[31:] == [32] * (len(allowed) - 31), "none closed once earned"


def test_sends_queueing_on_our_side_bring_the_sessions_down_and_keep_them_steady() -> None:
    """A provider answering in 0.2 ms beside senders that share one interpreter: each session
    more adds 0.7 ms of waiting to a send, but one send in four finds the interpreter free.
    After the slow start, a few sessions, not 32, and steady over three floor windows."""
    clock = Clock()
    count = SessionCount(32, clock)
    sends = iter(range(10**6))

    def seconds(sessions: int) -> float:
        return 0.0002 if next(sends) % 4 == 0 else 0.0002 + 0.0007 * (sessions - 1)

    allowed = _sends(count, clock, seconds, 80_000)
    assert clock.now > 3 * FLOOR_WINDOW
    settled = allowed[-60_000:]
    assert max(settled) <= 8, settled[-20:]
    assert max(settled) - min(settled) <= 1, sorted(set(settled))


def _settled_beside_one_interpreter(busy: bool) -> list[int]:
    """The sessions allowed over the last 20,000 of 40,000 sends to a server that answers in
    0.2 ms beside senders that only wait for each other: a send takes 0.2 ms a session open,
    but one in four finds the interpreter free; after a slow start to 32."""
    clock = Clock()
    count = SessionCount(32, clock, busy=lambda: busy)
    sends = iter(range(10**6))

    def seconds(sessions: int) -> float:
        return 0.0002 if next(sends) % 4 == 0 else 0.0002 * sessions

    for _ in range(32):
        count.opened()
        _sends(count, clock, seconds, 1)
    return _sends(count, clock, seconds, 40_000)[-20_000:]


def test_senders_waiting_for_one_interpreter_keep_few_sessions() -> None:
    """Four sessions at most once settled, where the band of Netflix's VegasLimit (3 and 6,
    widened by log10) kept seven."""
    settled = _settled_beside_one_interpreter(busy=False)
    assert max(settled) <= 4, sorted(set(settled))


def test_a_busy_interpreter_keeps_two_sessions_to_a_server_that_answers_at_once() -> None:
    """The same server and senders, the interpreter busy: two sessions once settled, steady,
    where the band alone keeps four."""
    settled = _settled_beside_one_interpreter(busy=True)
    assert set(settled) == {BUSY_FLOOR}, sorted(set(settled))


def test_a_busy_interpreter_still_gives_a_far_provider_every_session() -> None:
    """An SMS provider 100 ms away beside a busy drain to a local server: its sends queue
    nowhere on our side, so it earns all 32 and keeps them."""
    clock = Clock()
    count = SessionCount(32, clock, busy=lambda: True)
    jitter = iter([0.0, 0.005, -0.005, 0.003] * 100)
    allowed = _sends(count, clock, lambda _: 0.1 + next(jitter), 200)
    assert allowed[31:] == [32] * (len(allowed) - 31)


def test_once_the_sends_queued_a_new_session_earns_nothing_and_the_count_moves_seldom() -> None:
    """Past the slow start, a session opened (the count having grown by the estimate) earns no
    other by its first message, and the count moves at most once a round of sends: a server
    whose times swing (aiosmtpd beside the relay) must not make the relay open and close a
    session every few messages."""
    clock = Clock()
    count = SessionCount(32, clock)
    sends = iter(range(10**6))

    def swinging(sessions: int) -> float:
        n = next(sends)
        return 0.0002 if n % 4 == 0 else (0.0002 + 0.0007 * (sessions - 1)) * (1 + (n % 7) / 3)

    allowed = _sends(count, clock, swinging, 20_000)
    assert not count.opened()
    changes = sum(a != b for a, b in itertools.pairwise(allowed))
    assert changes < 200, changes


def test_one_slow_reply_among_32_sessions_closes_none() -> None:
    clock = Clock()
    count = SessionCount(32, clock)
    _sends(count, clock, lambda _: 0.1, 100)
    assert count.allowed == 32
    _sends(count, clock, lambda _: 0.3, 1)
    assert count.allowed == 32


def test_a_provider_slower_for_good_earns_its_sessions_back_within_two_windows() -> None:
    """The floor is the quickest send of the last window or two: 10 ms sends, then 100 ms ones
    (the provider's own time, not our queue) lower the sessions only until the old floor ages
    out."""
    clock = Clock()
    count = SessionCount(32, clock)
    _sends(count, clock, lambda _: 0.01, 300)
    assert count.allowed == 32
    start = clock.now
    _sends(count, clock, lambda _: 0.1, 50)
    assert count.allowed < 32, "taken for a queue while the old floor stands"
    while clock.now - start < 2 * FLOOR_WINDOW:
        _sends(count, clock, lambda _: 0.1, 1)
    # One session more a round of sends, each session sending once at the count before.
    _sends(count, clock, lambda _: 0.1, 32 * 32)
    assert count.allowed == 32


def test_a_throttling_reply_halves_a_pause_restarts_and_too_many_lowers_for_good() -> None:
    count = SessionCount(32)
    for _ in range(20):
        count.opened()
    count.halve()
    assert count.allowed == 10
    count.restart()
    assert count.allowed == 1
    for _ in range(9):
        count.opened()
    assert count.lower(6) == 6
    assert count.allowed == 6
    assert not [count.opened() for _ in range(3)].count(True)
    assert count.lower(0) == 1
