"""The tallies the figures add up (migration 0018) equal a full count of the tables after every
transition: queued, claimed, sent, retried, dead, suppressed, bounced, cancelled, expired,
retried or discarded by an operator, purged; folded or not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, insert, select, update

from outbox_relay.daemon import Daemon
from outbox_relay.wake import Wake
from shared.clock import utcnow
from shared.database.models import outbox, outbox_attempts, outbox_counts
from shared.messaging.suppressions import Suppressor
from shared.messaging.transitions import bounce, cancel_unsent
from shared.operations import purge, tallies
from shared.settings.config import Settings
from shared.vocabulary import DeadReason
from support.bulk import add_attempts, queue_emails
from support.commands import here, ok
from support.constants import SECRET_KEY, MakeRelay
from support.rows import count
from support.smtp_sink import SinkServer
from support.tallies import agree, full_counts


def _ends_otherwise(engine: Engine) -> None:
    """Queue a message to an address suppressed since (it dies at its claim), one past its
    time (it expires), one cancelled; bounce one sent."""
    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, "gone0@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )
    queue_emails(engine, 1, prefix="gone")
    [late] = queue_emails(engine, 1, prefix="late")
    [cancel] = queue_emails(engine, 1, prefix="cancel")
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == late)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        row = connection.execute(_ID.where(outbox.c.public_id == cancel)).scalar_one()
        cancel_unsent(connection, [row])
        # Not the message sent after a retry: bounced, its failed attempt would leave RETRIED.
        retried = select(outbox_attempts.c.outbox_id).where(
            outbox_attempts.c.outcome == "transient"
        )
        row = connection.execute(
            _ID.where(outbox.c.status == "sent", outbox.c.id.not_in(retried))
        ).scalar_one()
        assert bounce(connection, row, "smtp; 550 5.1.1 unknown", utcnow())


def _operator_acts(engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    """An operator retries a dead letter, discards another, lifts a suppression; a provider's
    failure is counted as a message's."""
    with engine.connect() as connection:
        dead = connection.execute(_PUBLIC_ID.where(outbox.c.status == "dead")).scalars().all()
    assert len(dead) >= 3
    ok(here(env, tmp_path, "dead", "retry", dead[0]))
    ok(here(env, tmp_path, "dead", "discard", dead[1]))
    ok(here(env, tmp_path, "suppressions", "remove", "gone0@example.com"))
    # A provider's failure counted as the message's afterwards, as outbox_relay/store.recount
    # writes it.
    with engine.begin() as connection:
        [row] = connection.execute(_ID.where(outbox.c.status == "pending")).scalars()
        connection.execute(
            insert(outbox_attempts).values(
                outbox_id=row, attempted_at=utcnow(), outcome="provider_down", duration_ms=1
            )
        )
    agree(engine, utcnow())
    with engine.begin() as connection:
        connection.execute(
            update(outbox_attempts)
            .where(outbox_attempts.c.outcome == "provider_down")
            .values(outcome="transient")
        )


def _sent_after_a_retry(engine: Engine, recipient: str) -> None:
    """A failed attempt just now at the message to `recipient` (queued with a delay, not yet
    sent), then its delivery."""
    theirs = select(outbox.c.id).where(outbox.c.recipient == recipient).scalar_subquery()
    with engine.begin() as connection:
        connection.execute(
            insert(outbox_attempts).values(
                outbox_id=theirs, attempted_at=utcnow(), outcome="transient", duration_ms=1
            )
        )
        connection.execute(
            update(outbox)
            .where(outbox.c.id == theirs, outbox.c.status == "pending")
            .values(status="sent", sent_at=utcnow())
        )


_ID = select(func.min(outbox.c.id))
_PUBLIC_ID = select(outbox.c.public_id).order_by(outbox.c.id)


def test_the_tallies_equal_a_full_count_after_every_transition(
    engine: Engine,
    env: dict[str, str],
    settings: Settings,
    api: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
    tmp_path: Path,
) -> None:
    # One message at a time: the one refused for now is tried again after the one refused
    # for good, whose 550 it would otherwise take (and die, leaving no retry sent).
    relay = make_relay(relay_backoff_base=0.0, relay_backoff_cap=0.0, relay_concurrency=1)
    agree(engine, utcnow())
    # Queued through the API and in bulk; claimed and sent; one refused for good, one retried
    # then sent (its failed attempt leaves the chart's red).
    registration = {"email": "new@example.com", "password": "correct horse battery"}
    assert api.post("/v1/registrations", json=registration).status_code == 202
    queue_emails(engine, 7)
    agree(engine, utcnow())
    smtp.sink.script = ["reply:451", "reply:550"]
    relay.drain()
    agree(engine, utcnow())
    agree(engine, utcnow(), fold=True)
    _ends_otherwise(engine)
    relay.drain()
    agree(engine, utcnow())
    _operator_acts(engine, env, tmp_path)
    agree(engine, utcnow())
    relay.drain()
    agree(engine, utcnow(), fold=True)
    with engine.connect() as connection:
        by_status, _, hours = full_counts(connection)
        reasons = set(connection.execute(select(outbox.c.dead_reason)).scalars())
    assert {"sent", "dead", "cancelled", "bounced"} <= set(by_status)
    assert {"suppressed", "expired"} <= reasons
    assert sum(n for (_, kind), n in hours.items() if kind == tallies.RETRIED) >= 1
    # Purged 40 days from now: every message but the pending, and the account never
    # activated, its activation sent after a failed attempt within the chart's hours.
    _sent_after_a_retry(engine, "new@example.com")
    with engine.connect() as connection:
        later = utcnow() + timedelta(days=40)
        purged = purge(connection, settings, actor="test", now=later)
    assert purged.sent and purged.dead and purged.cancelled and purged.unactivated_accounts
    agree(engine, utcnow())
    agree(engine, utcnow(), fold=True)


def test_the_relays_report_folds_the_tallies_to_a_row_a_key(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    relay = make_relay()
    queue_emails(engine, 5)
    relay.drain()
    with engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(outbox_counts)).scalar()
    Daemon(relay, Wake()).report()
    with engine.connect() as connection:
        keys = connection.execute(
            select(outbox_counts.c.status, outbox_counts.c.channel, outbox_counts.c.resolved)
        ).all()
    assert before is not None and before > len(keys) == len(set(keys)) == 1
    agree(engine, utcnow())


def test_the_apis_metrics_fold_what_no_relay_folded(
    engine: Engine, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every relay stopped, sign-ups still add their rows: a scrape of the API's
    /metrics folds them once there are BEHIND, so that no scrape sums more."""
    monkeypatch.setattr(tallies, "BEHIND", 6)

    for n in range(5):
        queue_emails(engine, 1, prefix=f"early{n}-")
    assert count(engine, "outbox_counts") == 5
    assert "outpost_pending_messages 5.0" in client.get("/metrics").get_data(as_text=True)
    assert count(engine, "outbox_counts") == 5
    queue_emails(engine, 1, prefix="late")
    assert "outpost_pending_messages 6.0" in client.get("/metrics").get_data(as_text=True)
    assert count(engine, "outbox_counts") == 1
    agree(engine, utcnow())


def test_one_statement_moving_many_rows_counts_each_row_it_moved(engine: Engine) -> None:
    """An update of many rows at once, as a relay's write of half a batch is: messages with
    failed attempts in two hours sent together, some of them bounced together, others dead and
    discarded together, and an update that moves no row counts nothing."""
    now = utcnow()
    ids = queue_emails(engine, 6, prefix="many")
    with engine.begin() as connection:
        for n, public_id in enumerate(ids[:4]):
            add_attempts(connection, public_id, [("transient", 5 + 70 * (n % 2))], now)
    agree(engine, utcnow())
    moves = [
        (ids[:5], {"status": "sent", "sent_at": now}),
        (ids[1:3], {"status": "bounced"}),
        (ids[3:], {"status": "dead", "dead_at": now, "dead_reason": DeadReason.MAX_ATTEMPTS}),
        (ids[4:], {"resolution": "discarded"}),
        (ids, {"last_error": "read by nobody"}),
    ]
    for moved, values in moves:
        with engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.public_id.in_(moved)).values(values))
        agree(engine, utcnow())
    with engine.connect() as connection:
        by_status, _, hours = full_counts(connection)
    assert by_status == {"sent": {"email": 1}, "bounced": {"email": 2}, "dead": {"email": 3}}
    assert sum(n for (_, kind), n in hours.items() if kind == tallies.RETRIED) == 1
