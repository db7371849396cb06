"""Figures that say what they count: messages sent and dead, attempts failed and met by a
provider that was down, apart in the stats, the hourly figures and the relay's metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import Engine, insert, update

from shared.clock import utcnow
from shared.database.models import outbox, outbox_attempts
from shared.operations import hourly_outcomes, stats
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.smtp_sink import SinkServer


def ended(
    engine: Engine, public_id: str, status: str, attempts: list[tuple[str, datetime]]
) -> None:
    """Give a queued row its end (`sent`, or `dead` with the reason its last attempt says, at
    its time or now if untried) and its attempts."""
    reason = {"transient": "max_attempts", "permanent": "permanent_error"}
    last = attempts[-1][0] if attempts else "suppressed"
    with engine.begin() as connection:
        [row_id] = connection.execute(
            update(outbox)
            .where(outbox.c.public_id == public_id)
            .values(
                status=status,
                dead_reason=reason.get(last, last) if status == "dead" else None,
                sent_at=attempts[-1][1] if status == "sent" else None,
                dead_at=(attempts[-1][1] if attempts else utcnow()) if status == "dead" else None,
                attempts=sum(1 for outcome, _ in attempts if outcome != "provider_down"),
            )
            .returning(outbox.c.id)
        ).scalars()
        for outcome, at in attempts:
            connection.execute(
                insert(outbox_attempts).values(
                    outbox_id=row_id, attempted_at=at, outcome=outcome, duration_ms=1
                )
            )


def test_stats_and_hourly_figures_count_messages_dead_failed_and_provider_down_attempts_apart(
    engine: Engine,
) -> None:
    now = utcnow()
    minutes = [now - timedelta(minutes=n) for n in range(50, 0, -5)]
    sent, retried, refused, suppressed, old, recovered = queue_emails(engine, 6)
    # A message that met a provider that was down five times, then was sent.
    ended(engine, sent, "sent", [("provider_down", at) for at in minutes[:5]] + [("sent", now)])
    # A retry that worked: its failed attempt is no failure in the chart.
    ended(engine, recovered, "sent", [("transient", minutes[9]), ("sent", now)])
    ended(engine, retried, "dead", [("transient", at) for at in minutes[5:8]])
    ended(engine, refused, "dead", [("permanent", minutes[8])])
    ended(engine, suppressed, "dead", [])
    ended(engine, old, "dead", [("permanent", now - timedelta(hours=2))])
    with engine.connect() as connection:
        figures = stats(connection, now)
        hours = hourly_outcomes(connection, now)
    two_hours_ago = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    [*_, hour] = hours
    [before] = [h for h in hours if h.hour == two_hours_ago]
    assert (figures.sent_last_hour, figures.dead_last_hour) == (2, 3)
    assert (figures.failed_last_hour, figures.provider_down_last_hour) == (5, 5)
    assert figures.dead_unresolved == 4
    in_this_hour = [at for at in minutes if at.hour == now.hour]
    assert hour.sent == 2
    assert hour.failed + hour.provider_down == sum(1 for at in in_this_hour if at < minutes[9])
    assert hour.failed == sum(1 for at in in_this_hour if minutes[5] <= at <= minutes[8])
    assert (before.sent, before.failed, before.provider_down) == (0, 1, 0)


def sample(name: str, **labels: str) -> float:
    """A metric's current value, 0 before it was first counted."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_relays_metrics_count_messages_dead_failed_and_provider_down_attempts_apart(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    # Probed a minute later: a probe answering at once would recount the 421 as a try.
    relay = make_relay(relay_backoff_base=60.0, relay_backoff_cap=60.0)
    names = {
        "dead": ("outpost_relay_dead_messages_total", {"reason": "permanent_error"}),
        "failed": ("outpost_relay_failed_attempts_total", {"kind": "permanent"}),
        "retried": ("outpost_relay_failed_attempts_total", {"kind": "transient"}),
        "down": ("outpost_relay_provider_down_attempts_total", {}),
    }

    def counts() -> dict[str, float]:
        return {key: sample(name, channel="email", **more) for key, (name, more) in names.items()}

    before = counts()
    queue_emails(engine, 1, prefix="refused")
    smtp.sink.script = ["reply:550"]
    relay.drain()
    queue_emails(engine, 1, prefix="later")
    smtp.sink.script = ["reply:451"]
    relay.drain()
    queue_emails(engine, 1, prefix="waiting")
    smtp.sink.mode = "reply:421"  # the provider's: it is paused and the rows wait
    relay.drain()
    after = counts()
    assert {key: after[key] - before[key] for key in names} == {
        "dead": 1,
        "failed": 1,
        "retried": 1,
        "down": 1,  # the waiting message (the one refused with 451 waits its backoff)
    }
