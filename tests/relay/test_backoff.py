"""The backoff formulas: a retry's exponential, capped, full jitter; a probe's at least the
exponential."""

from __future__ import annotations

import random

from outbox_relay.backoff import probe_delay, retry_delay


class Highest(random.Random):
    """Always draws the top of the range, to read the ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_ceiling_doubles_per_attempt_until_the_cap() -> None:
    ceilings = [retry_delay(n, base=2, cap=60, rng=Highest()) for n in range(1, 8)]
    assert ceilings == [2, 4, 8, 16, 32, 60, 60]


def test_delays_are_spread_over_the_whole_range() -> None:
    rng = random.Random(7)
    delays = [retry_delay(4, base=2, cap=60, rng=rng) for _ in range(2000)]
    assert all(0 <= d <= 16 for d in delays)
    assert min(delays) < 1 and max(delays) > 15
    assert 7 < sum(delays) / len(delays) < 9


def test_a_thousand_failures_still_wait_the_cap() -> None:
    """A provider probed every millisecond passes its thousandth probe in seconds."""
    assert 0 <= retry_delay(5000, base=0.001, cap=0.002) <= 0.002
    assert 0 <= retry_delay(5000, base=2.0, cap=3600.0) <= 3600.0


def test_a_probe_waits_at_least_the_ceiling_and_never_past_the_cap() -> None:
    rng = random.Random(7)
    for probes, low, high in [(1, 2, 4), (2, 4, 8), (3, 8, 16), (6, 60, 60), (40, 60, 60)]:
        delays = [probe_delay(probes, base=2, cap=60, rng=rng) for _ in range(500)]
        assert all(low <= d <= high for d in delays), (probes, min(delays), max(delays))
    # With the default base, the second probe comes after 5 s: two logins at most by then.
    first, second = probe_delay(1, base=2.0, cap=60.0), probe_delay(2, base=2.0, cap=60.0)
    assert first + second >= 6
