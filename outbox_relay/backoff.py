"""When to try again after a transient failure: exponential, capped, with full jitter."""

from __future__ import annotations

import random


def retry_delay(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the `attempts`-th failure: uniform in [0, min(cap, base·2^(n-1))].

    Full jitter (rather than equal jitter) spreads a burst of failures out the most, so a
    provider coming back is not hit by every message at the same instant.
    """
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(0, ceiling)
