"""How long each provider has lately taken to accept a message: a withheld row ends in that time,
so that its client cannot tell it from a sent one by how soon it says `sent`."""

from __future__ import annotations

import time

# Before a provider has accepted anything: the middle of what the default concurrency is sized
# for (100 to 300 ms a message, shared/settings/relay.py DEFAULT_CONCURRENCY).
FIRST_GUESS_SECONDS = 0.2
# The weight of the newest send: about the last twenty sends make the figure.
_WEIGHT = 0.1


class SendTimes:
    """A moving average of each provider's accepted sends, in seconds."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def accepted(self, provider: str, seconds: float) -> None:
        """Count a send `provider` accepted in `seconds`."""
        last = self._seconds.get(provider)
        self._seconds[provider] = seconds if last is None else last + _WEIGHT * (seconds - last)

    def typical(self, provider: str) -> float:
        """How long a send through `provider` takes lately."""
        return self._seconds.get(provider, FIRST_GUESS_SECONDS)


def ms_since(started: float) -> int:
    """Whole milliseconds since `started` (time.perf_counter)."""
    return int((time.perf_counter() - started) * 1000)
