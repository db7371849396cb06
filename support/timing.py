"""Timing two kinds of request against each other on a shared machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

# One measure on a shared machine can lose to a burst of other work (a CI runner, a checkpoint);
# a real difference loses every attempt.
ATTEMPTS = 3


def alternating_medians(
    request: Callable[[str, int], object], kinds: tuple[str, str], rounds: int
) -> tuple[float, float]:
    """The median seconds of `request(kind, n)` for the first kind, n from 0 to rounds - 1, and
    the second kind's as that median times the median ratio of each round's pair.

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
    reference = statistics.median(seconds[first])
    ratios = [b / a for a, b in zip(seconds[first], seconds[second], strict=True)]
    return reference, reference * statistics.median(ratios)


def assert_same_time(
    measure: Callable[[int], tuple[float, float]], tolerance: float, what: str
) -> None:
    """Pass once a measure's two medians (`measure(attempt)`, fresh subjects for each attempt)
    differ by at most `tolerance` of the first; fail with every attempt's figures otherwise."""
    figures = []
    for attempt in range(ATTEMPTS):
        reference, other = measure(attempt)
        figures.append(f"{reference * 1000:.2f} vs {other * 1000:.2f} ms")
        if abs(other - reference) <= tolerance * reference:
            return
    raise AssertionError(
        f"{what}: medians differ by more than {tolerance:.0%}: {'; '.join(figures)}"
    )
