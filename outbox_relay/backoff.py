"""When to try again: after a message's transient failure (exponential, capped, full jitter),
a paused provider's probe (at least the exponential), and between reconnections to a database
that does not answer (doubling, capped)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable


def retry_delay(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the `attempts`-th failure: uniform in [0, min(cap, base·2^(n-1))].

    Full jitter (rather than equal jitter) spreads a burst of failures out the most, so a
    provider coming back is not hit by every message at the same instant.
    """
    # A float power: an int one overflows converting past 2^1023 (a thousand quick probes).
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 1023))
    return (rng or random).uniform(0, ceiling)


# A message whose failure paused its provider is due this long after the probe starts, at most:
# the probe is then another message, if one is due.
PROBE_LEAD = 3.0


def probe_lead(base: float) -> float:
    """Seconds after the probe starts that the message whose failure paused the provider is
    due: PROBE_LEAD, or 1.5 backoff bases where that is less (3 s at the default base)."""
    return min(PROBE_LEAD, 1.5 * base)


def probe_delay(probes: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the `probes`-th probe of a paused provider: uniform in [c, 2c] with
    c = min(cap, base·2^(n-1)), never more than `cap`.

    At least the ceiling, unlike a message's retry: a probe is a login too, and a provider
    that refused our password should see one more per doubling wait (two in the first 5 s
    with the default base), not a burst of them; the jitter above it spreads relays apart.
    """
    ceiling = min(cap, base * 2.0 ** min(max(probes - 1, 0), 1023))
    return min(cap, (rng or random).uniform(ceiling, 2 * ceiling))


# Reconnections: the first after half a second, then doubling up to this.
RECONNECT_FIRST = 0.5
RECONNECT_CAP = 10.0


def until_connected(
    attempt: Callable[[], bool],
    stopping: threading.Event,
    on_failure: Callable[[Exception, float], None],
    failures: tuple[type[Exception], ...],
) -> None:
    """Call `attempt` until it returns True or `stopping` is set, waiting between failures.

    A failure (one of `failures`) is reported with the wait before the next try; the wait
    doubles from RECONNECT_FIRST up to RECONNECT_CAP and starts again after a success that
    returned False (a link that held, then dropped).
    """
    delay = RECONNECT_FIRST
    while not stopping.is_set():
        try:
            if attempt():
                return
        except failures as exc:
            on_failure(exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_CAP)
        else:
            delay = RECONNECT_FIRST
