"""A real greylister (Debian's postgrey behind the tests' private Postfix) and a real wrong
password: the relay never turns them into a retry storm or a burst of failed logins."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from support import postgrey
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.postfix import Postfix, addresses, delivered_once
from support.postfix_config import DOMAIN, LOGIN
from support.relays import drain_until, keep_draining
from support.rows import rows, statuses

# postgrey's delay, and the relay's floor for a deferral set alike (RELAY_DEFERRAL_FLOOR): far
# below the common minimum, which the test would otherwise wait out twice.
DELAY = 6


@pytest.fixture(scope="module")
def greylister(postfix: Postfix) -> Iterator[postgrey.Postgrey]:
    if not postgrey.available():
        pytest.fail("the greylisting tests need root and `apt-get install postgrey`")
    with postgrey.Postgrey(postfix.policy_port, DELAY) as server:
        yield server


# Real waiting, twice the delay: timed, on PostgreSQL, as the other Postfix outages.
@pytest.mark.long
@pytest.mark.postgresql_only
@pytest.mark.timeout(DELAY * 4 + 240)
def test_a_hundred_messages_through_a_greylister_take_few_sessions_and_no_pause(
    engine: Engine,
    postfix_relay: MakeRelay,
    postfix: Postfix,
    greylister: postgrey.Postgrey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("grey")
    recipients = addresses(prefix, 100)
    ids = queue_emails(engine, 100, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("postgrey", login=False), relay_deferral_floor=DELAY)
    caplog.set_level(logging.INFO, logger="outbox_relay.providers")

    # First pass: every recipient is new, so every one is deferred, and each retry comes at
    # least the delay after the try before; the session goes on with the next message.
    started = time.monotonic()
    drain_until(relay, lambda: all(r["attempts"] >= 1 for r in rows(engine, "outbox")), 120)
    first_pass = time.monotonic() - started
    tried = sorted(rows(engine, "outbox_attempts"), key=lambda a: a["attempted_at"])
    for row in rows(engine, "outbox"):
        [first, *later] = [a for a in tried if a["outbox_id"] == row["id"]]
        assert first["outcome"] == "transient" and "Greylisted" in first["error"]
        if not later:
            assert row["next_attempt_at"] >= first["attempted_at"] + timedelta(seconds=DELAY)
        for before, after in zip([first, *later], later, strict=False):
            assert after["attempted_at"] >= before["attempted_at"] + timedelta(seconds=DELAY)

    # Then the relay waits out the delay by itself, and postgrey lets each retry through: within
    # the delay and what the first pass took, with that much again for a loaded machine.
    drain_until(relay, lambda: statuses(engine) == {"sent": 100}, 2 * (DELAY + first_pass))
    relay.senders.close()
    delivered_once(postfix, relay, recipients, ids)

    sessions = postfix.sessions("postgrey", since)
    assert len(sessions) <= 200, len(sessions)
    tries = Counter(a["outbox_id"] for a in rows(engine, "outbox_attempts"))
    assert max(tries.values()) <= 3, tries
    assert postfix.log(since).count("Greylisted") >= 100
    said = [r.getMessage() for r in caplog.records]
    assert "provider paused" not in said and "provider probe failed" not in said


def test_a_wrong_password_costs_at_most_two_failed_logins_in_the_first_5_s(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    """One session at start (a polite sender), then one probe per doubling wait from the
    default RELAY_BACKOFF_BASE: never one failed AUTH a sender."""
    since = postfix.mark()
    queue_emails(engine, 40, prefix=postfix.fresh("login"), domain=DOMAIN)
    relay = postfix_relay(
        postfix.url("starttls_auth", starttls=True).replace(f":{LOGIN[1]}@", ":wrong@"),
        relay_backoff_base=2.0,
        relay_backoff_cap=3600.0,
        relay_concurrency=32,
    )
    started = time.monotonic()
    keep_draining(relay, 5.0)
    elapsed = time.monotonic() - started
    failed = re.findall(r"authentication failed", postfix.log(since))
    assert 1 <= len(failed) <= 2, (len(failed), elapsed)
    assert statuses(engine) == {"pending": 40}
    assert {r["attempts"] for r in rows(engine, "outbox")} == {0}
