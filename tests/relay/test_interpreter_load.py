"""Whether the relay's interpreter is busy (outbox_relay/interpreter_load.py), on a clock and a
CPU time of the test's own."""

from __future__ import annotations

from outbox_relay.interpreter_load import BUSY, GAP, WINDOW, InterpreterLoad


class Process:
    def __init__(self) -> None:
        self.now = 0.0
        self.cpu = 0.0

    def run(self, seconds: float, share: float) -> None:
        self.now += seconds
        self.cpu += seconds * share

    def load(self) -> InterpreterLoad:
        return InterpreterLoad(cpu=lambda: self.cpu, clock=lambda: self.now)


def test_a_window_past_the_share_reads_busy_until_a_window_under_it() -> None:
    process = Process()
    load = process.load()
    assert not load.busy(), "no window has ended yet"
    process.run(WINDOW / 2, 1.0)
    assert not load.busy(), "the first window has not ended"
    process.run(WINDOW / 2, 1.0)
    assert load.busy()
    process.run(WINDOW / 2, 0.1)
    assert load.busy(), "the last window ended still counts"
    process.run(WINDOW / 2, 0.1)
    assert not load.busy()
    process.run(WINDOW, BUSY - 0.01)
    assert not load.busy()
    process.run(WINDOW, BUSY + 0.01)
    assert load.busy()


def test_an_idle_gap_reads_idle_and_starts_a_window_afresh() -> None:
    """A busy drain, then nothing to send for a while: the first sends after are not judged by
    the drain, nor is the gap taken for a measure of them."""
    process = Process()
    load = process.load()
    load.busy()
    process.run(WINDOW, 1.0)
    assert load.busy()
    process.run(GAP + 0.01, 0.9)
    assert not load.busy()
    process.run(WINDOW, 1.0)
    assert load.busy(), "the window after the gap measures the sends again"
