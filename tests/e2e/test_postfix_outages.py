"""Outages and limits of Debian's Postfix, timed, on PostgreSQL: a wrong password, Postfix
stopped and started, greylisting, anvil's message rate and a connection cap."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import Engine

from outbox_relay.backoff import probe_lead
from shared.clock import utcnow
from shared.settings.joint_rules import DEFAULT_CONCURRENCY
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.postfix import PROBE_INTERVAL, RELAY_SETTINGS, Postfix, addresses, delivered_once
from support.postfix_config import DOMAIN, LOGIN
from support.relays import drain_until, keep_draining, paused_for
from support.rows import outcomes, rows, statuses, untried, wait_out_deferrals

pytestmark = pytest.mark.postgresql_only


def test_a_wrong_password_pauses_the_provider_and_the_right_one_delivers(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("password")
    ids = queue_emails(engine, 5, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("starttls_auth", starttls=True))
    postfix.set_password("not-what-the-relay-presents")
    try:
        drain_until(relay, lambda: paused_for(relay, "SMTP 535 5.7.8"), 10)
        keep_draining(relay, 1.5)
        untried(engine, 5)
        assert "authentication failed" in postfix.log(since)
    finally:
        postfix.set_password(LOGIN[1])
    drain_until(relay, lambda: statuses(engine) == {"sent": 5}, 10)
    assert {r["attempts"] for r in rows(engine, "outbox")} == {1}
    assert set(outcomes(engine)) <= {"sent", "provider_down"}
    delivered_once(postfix, relay, addresses(prefix, 5), ids)


def test_postfix_stopped_then_started_loses_nothing_and_delivers_each_mail_once(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    prefix = postfix.fresh("outage")
    relay = postfix_relay(postfix.url("starttls_auth", starttls=True))
    postfix.stop()
    try:
        ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
        drain_until(relay, lambda: paused_for(relay, "ConnectionRefusedError"), 10)
        keep_draining(relay, 1.5)
        untried(engine, 10)
        assert set(outcomes(engine)) == {"provider_down"}
    finally:
        postfix.start()
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 15)
    delivered_once(postfix, relay, addresses(prefix, 10), ids)


def test_one_greylisted_recipient_backs_off_while_the_others_go(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix, caplog: pytest.LogCaptureFixture
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("grey")
    recipients = addresses(prefix, 50)
    grey = recipients[17]
    relay = postfix_relay(
        postfix.url("greylist", login=False), relay_concurrency=DEFAULT_CONCURRENCY
    )
    caplog.set_level(logging.WARNING, logger="outbox_relay.providers")
    postfix.greylist([grey])
    try:
        ids = queue_emails(engine, 50, prefix=prefix, domain=DOMAIN)
        started = time.monotonic()
        drain_until(relay, lambda: statuses(engine)["sent"] == 49, 10)
        assert time.monotonic() - started < 5
        keep_draining(relay, 2.5)
        [row] = [r for r in rows(engine, "outbox") if r["recipient"] == grey]
        # Deferred once, and not tried again before a greylister would let it through.
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["next_attempt_at"] >= utcnow() + timedelta(seconds=55)
        tries = [a for a in rows(engine, "outbox_attempts") if a["outbox_id"] == row["id"]]
        assert [a["outcome"] for a in tries] == ["transient"]
        pauses = [r for r in caplog.records if r.getMessage() == "provider paused"]
        assert pauses == []
        assert postfix.log(since).count("Recipient address rejected: Greylisted") == 1
    finally:
        postfix.greylist([])
    wait_out_deferrals(engine)
    # Postfix re-reads the map in new smtpd processes only; the relay's idle sessions are
    # still served by the old ones (a policy server such as postgrey has no such state).
    relay.senders.close()
    drain_until(relay, lambda: statuses(engine) == {"sent": 50}, 10)
    delivered_once(postfix, relay, recipients, ids)


def test_anvils_message_rate_limit_kills_nothing_and_everything_arrives(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("anvil")
    ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("anvil", login=False))
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 15)
    delivered_once(postfix, relay, addresses(prefix, 10), ids)
    assert "Message delivery request rate limit exceeded" in postfix.log(since)
    refused = [a for a in rows(engine, "outbox_attempts") if a["outcome"] != "sent"]
    assert refused and all("450 4.7.1 Error: too much mail" in a["error"] for a in refused)


def test_a_connection_cap_below_the_relays_concurrency_delays_no_message_past_a_probe(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("cap")
    ids = queue_emails(engine, 20, prefix=prefix, domain=DOMAIN)
    # Four senders against a cap of two connections.
    relay = postfix_relay(postfix.url("conncap", login=False), relay_concurrency=4)
    started = utcnow()
    drain_until(relay, lambda: statuses(engine) == {"sent": 20}, 8)
    times = sorted([started, *(r["sent_at"] for r in rows(engine, "outbox"))])
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    # The message whose 421 paused the provider waits for the probe and its lead.
    lead = probe_lead(RELAY_SETTINGS["relay_backoff_base"])
    assert max(gaps) <= PROBE_INTERVAL + lead + 0.5, gaps
    delivered_once(postfix, relay, addresses(prefix, 20), ids)
    assert "Connection concurrency limit exceeded" in postfix.log(since)
