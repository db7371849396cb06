"""Timing two kinds of request against each other on a shared machine."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# One measure on a shared machine can lose to a burst of other work (a CI runner, a checkpoint);
# a real difference loses every attempt.
ATTEMPTS = 3
# How unlikely a count of pairs beyond the tolerance must be, were the kinds' medians exactly
# the tolerance apart, for an attempt to show a difference (a one-sided sign test).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Pairs:
    """Seconds of two kinds of request, run back to back pair by pair."""

    first: tuple[float, ...]
    second: tuple[float, ...]

    def beyond(self, tolerance: float) -> tuple[int, str]:
        """How many pairs have the second kind more than `tolerance` slower, or faster, than
        the first, whichever is more, and which."""
        ratios = [b / a for a, b in zip(self.first, self.second, strict=True)]
        slower = sum(ratio > 1 + tolerance for ratio in ratios)
        faster = sum(ratio < 1 - tolerance for ratio in ratios)
        return (slower, "slower") if slower >= faster else (faster, "faster")

    def shows_a_difference(self, tolerance: float) -> bool:
        """Whether more pairs lie beyond `tolerance` on one side than chance puts there.

        A difference of medians alone mixes with a loaded machine's noise: beside a second test
        run, a path 1.5 % slower when quiet came out 12 to 22 % slower in three attempts, its
        pairs' ratios spread from 0.8 to 1.3 between quartiles. Counting pairs asks how often
        the second kind lost by more than the tolerance: were its median exactly that much
        longer, half the pairs would, so only a count that chance reaches no more often than
        `SIGNIFICANCE` shows a difference. Quiet, 40 % more time puts 25 to 30 pairs of 30 beyond
        10 %; at load 8, 16 to 28.
        """
        count, _ = self.beyond(tolerance)
        pairs = len(self.first)
        chance = sum(math.comb(pairs, k) for k in range(count, pairs + 1)) / (1 << pairs)
        return chance <= SIGNIFICANCE

    def figures(self, tolerance: float) -> str:
        """The two medians and the pairs beyond the tolerance, for a failure's message."""
        count, side = self.beyond(tolerance)
        medians = (statistics.median(seconds) * 1000 for seconds in (self.first, self.second))
        return "{:.2f} vs {:.2f} ms, {} of {} pairs {}".format(
            *medians, count, len(self.first), side
        )


def alternating_pairs(
    request: Callable[[str, int], object], kinds: tuple[str, str], rounds: int
) -> Pairs:
    """The seconds of `request(kind, n)` for each kind, n from 0 to rounds - 1.

    The kinds take turns to go first, so that neither always runs on a warmer machine, and are
    compared pair by pair: a pair runs back to back, so a burst of other work on a shared
    machine (another test run, a checkpoint) loads both of it, where it would load the two
    kinds' medians unevenly.
    """
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for n in range(rounds):
        for kind in kinds if n % 2 else kinds[::-1]:
            started = time.perf_counter()
            request(kind, n)
            seconds[kind].append(time.perf_counter() - started)
    first, second = kinds
    return Pairs(tuple(seconds[first]), tuple(seconds[second]))


def assert_same_time(measure: Callable[[int], Pairs], tolerance: float, what: str) -> None:
    """Pass once a measure's pairs (`measure(attempt)`, fresh subjects for each attempt) show no
    difference beyond `tolerance`; fail with every attempt's figures otherwise."""
    figures = []
    for attempt in range(ATTEMPTS):
        pairs = measure(attempt)
        figures.append(pairs.figures(tolerance))
        if not pairs.shows_a_difference(tolerance):
            return
    raise AssertionError(f"{what}: differ by more than {tolerance:.0%}: {'; '.join(figures)}")
