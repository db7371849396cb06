"""What a pause does beyond stopping the senders (spec: "Errors — the message or the
provider"): no retry without backoff, no idle session kept open, and no more sessions than a
provider takes."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from outbox_relay import meet
from outbox_relay.backoff import probe_lead
from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.settings.smtp_url import parse_smtp_url
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.relays import wait_until_up
from support.rows import rows
from support.smtp_stages import StagedSmtp


def relay_for(make_relay: MakeRelay, server: StagedSmtp, **changes: object) -> Relay:
    return make_relay(smtp=parse_smtp_url(server.url()), **changes)


def attempts(engine: Engine) -> list[str]:
    return [str(a["outcome"]) for a in rows(engine, "outbox_attempts")]


def test_a_failure_that_paused_a_provider_answering_its_first_probe_counts_as_a_try(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """A 421 to one recipient pauses the provider; its probe, the next message (the first waits
    until just after it), passes: the failure was that message's, so it counts as its try and
    the message waits its backoff instead of pausing the provider again and again."""
    [first] = queue_emails(engine, 1, prefix="first")
    server.script.recipients["first0@example.com"] = "421 4.7.0 try again later"
    # The probe must be claimed before the first message is due again, 1.5 bases after it
    # (probe_lead): a base long enough for a busy machine's drain, claim and poll (0.3 s was
    # not beside two CPU burners, 1 s not at load 10, two suites beside each other).
    base = 3.0
    relay = relay_for(make_relay, server, relay_backoff_base=base, relay_backoff_cap=base)
    started = utcnow()
    relay.drain()
    assert "email" in relay.providers.paused_channels()
    [paused_by] = rows(engine, "outbox")
    # Due after the probe (at least a base away) and the lead after it.
    due = started + timedelta(seconds=base + probe_lead(base))
    assert paused_by["next_attempt_at"].replace(tzinfo=due.tzinfo) >= due
    queue_emails(engine, 1, prefix="next")
    wait_until_up(relay)
    relay.drain()
    by_id = {r["public_id"]: r for r in rows(engine, "outbox")}
    assert [r["status"] for r in by_id.values()] == ["pending", "sent"]
    assert (by_id[first]["attempts"], attempts(engine)) == (1, ["transient", "sent"])
    assert relay.providers.status() == []


def test_a_provider_that_stays_down_past_its_first_probe_counts_no_try(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """Each probe is the message itself (the only one due): each failure is the provider's,
    recorded and never counted; once the provider answers, the message goes."""
    server.script.set(mail="451 4.3.0 try later")
    queue_emails(engine, 1)
    base = 0.05
    relay = relay_for(make_relay, server, relay_backoff_base=base, relay_backoff_cap=base)
    # Counted from here: the server's start made a session of its own.
    before = server.script.sessions
    # Two probes, each a backoff and the lead after the failure before it, and slack.
    lead = probe_lead(base)
    deadline = time.monotonic() + 2 * (lead + 2 * base) + 10
    while server.script.sessions < before + 3:  # the send, then two probes
        assert time.monotonic() < deadline
        relay.drain()
        time.sleep(0.05)
    server.script.set(mail=None)
    [row] = rows(engine, "outbox")
    assert (row["attempts"], attempts(engine)) == (0, ["provider_down"] * 3)
    deadline = time.monotonic() + lead + 10
    while [r["status"] for r in rows(engine, "outbox")] != ["sent"]:
        assert time.monotonic() < deadline
        relay.drain()
        time.sleep(0.05)
    assert attempts(engine) == ["provider_down"] * 3 + ["sent"]


def test_a_pause_closes_the_idle_sessions_to_the_provider(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    server.script.set(data="wait:0.2")
    queue_emails(engine, 4, prefix="first")
    relay = relay_for(
        make_relay, server, relay_concurrency=4, relay_backoff_base=60.0, relay_backoff_cap=60.0
    )
    relay.drain()
    assert server.script.open_sessions >= 2
    server.script.set(data=None, mail="550 5.7.1 sender not allowed")
    queue_emails(engine, 1, prefix="second")
    relay.drain()
    assert "email" in relay.providers.paused_channels()
    server.script.wait_until_open(0)


def test_a_421_naming_too_many_connections_caps_the_sessions_to_those_open(
    engine: Engine,
    make_relay: MakeRelay,
    server: StagedSmtp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server taking two sessions from us, four senders: the third session's 421 lowers the
    relay's sessions to two, and every message leaves once, none dead."""
    server.script.max_sessions = 2
    server.script.set(data="wait:0.05")
    queue_emails(engine, 12)
    relay = relay_for(
        make_relay, server, relay_concurrency=4, relay_backoff_base=0.05, relay_backoff_cap=0.05
    )
    caplog.set_level(logging.WARNING, logger="outbox_relay.sessions")
    deadline = time.monotonic() + 15
    while sum(r["status"] == "sent" for r in rows(engine, "outbox")) < 12:
        assert time.monotonic() < deadline, attempts(engine)
        relay.drain()
        time.sleep(0.05)
    assert len(server.script.accepted) == 12
    lowered = [r for r in caplog.records if r.getMessage() == "provider sessions lowered"]
    assert lowered and lowered[-1].__dict__["to"] == 2
    # Once lowered, no session is refused again.
    refused = attempts(engine).count("provider_down")
    relay.drain()
    queue_emails(engine, 8, prefix="later")
    relay.drain()
    assert attempts(engine).count("provider_down") == refused
    assert sum(r["status"] == "sent" for r in rows(engine, "outbox")) == 20


def test_a_sender_that_took_the_provider_before_its_pause_opens_no_session_after_it(
    engine: Engine,
    make_relay: MakeRelay,
    server: StagedSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A revoked password, two messages: the second's sender took the provider while it was
    up, and composes until the first's AUTH has paused it (a loaded machine stretches that
    step). It must not then open a session: one failed login, not two."""
    server.script.set(auth="535 5.7.8 Authentication credentials invalid")
    queue_emails(engine, 1, prefix="first")
    queue_emails(engine, 1, prefix="late")
    relay = make_relay(
        smtp=parse_smtp_url(server.url(user="outpost", password="revoked")),
        relay_concurrency=2,
        relay_backoff_base=60.0,
        relay_backoff_cap=60.0,
    )
    compose = meet.compose

    def late_compose(row: Any, *args: Any) -> Any:
        if row.recipient.startswith("late"):
            deadline = time.monotonic() + 10
            while "email" not in relay.providers.paused_channels():
                assert time.monotonic() < deadline, "the first send never paused the provider"
                time.sleep(0.01)
        return compose(row, *args)

    monkeypatch.setattr(meet, "compose", late_compose)
    before = server.script.auth_attempts
    relay.drain()
    assert server.script.auth_attempts == before + 1
    [late] = [r for r in rows(engine, "outbox") if r["recipient"].startswith("late")]
    assert (late["status"], late["attempts"]) == ("pending", 0)
    assert attempts(engine) == ["provider_down"]
