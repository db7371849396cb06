"""The heartbeat records the last healthy step's time at most once a second, the first at once."""

from __future__ import annotations

from prometheus_client import REGISTRY

from outbox_relay import metrics
from outbox_relay.heartbeat import BEAT_SECONDS, Heartbeat


def test_the_time_of_the_last_step_is_recorded_at_once_then_at_most_once_a_second() -> None:
    now = [0.0]
    heart = Heartbeat(clock=lambda: now[0])

    def recorded() -> float:
        value = REGISTRY.get_sample_value("outpost_relay_last_successful_poll_timestamp_seconds")
        assert value is not None
        return value

    metrics.LAST_POLL.set(0)
    heart.beat()
    first = recorded()
    assert first > 0
    metrics.LAST_POLL.set(0)
    now[0] += BEAT_SECONDS / 2
    heart.beat()
    assert recorded() == 0
    now[0] += BEAT_SECONDS / 2
    heart.beat()
    assert recorded() >= first
