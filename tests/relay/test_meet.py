"""Meeting a row does nothing of what it met: the doer does, once decide.py has decided."""

from __future__ import annotations

from sqlalchemy import Engine

from outbox_relay import decide
from outbox_relay.claims import Claimer
from outbox_relay.decide import Accepted, SendFailed
from outbox_relay.failures import Verdict
from outbox_relay.precedence import Precedence
from shared.clock import utcnow
from shared.settings.smtp_url import parse_smtp_url
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_stages import StagedSmtp


def test_a_refusal_met_pauses_nothing_and_writes_nothing_until_the_doer_does_it(
    engine: Engine, make_relay: MakeRelay, claimer: Claimer, server: StagedSmtp
) -> None:
    server.script.set(data=None, mail="550 5.7.1 sender not allowed")
    # The probe a minute after the pause, not the tests' milliseconds: on a loaded machine it
    # had come, and the provider was on trial, before the pause was looked at.
    relay = make_relay(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=60, relay_backoff_cap=120
    )
    queue_emails(engine, 1)
    [row] = claimer.claim(now=utcnow(), limit=1, lease_seconds=60)
    ticket = Precedence().enter(row.channel, row.priority)
    senders = relay.senders
    with senders._meet.row(row, False, ticket) as meeting:
        assert isinstance(meeting.met, SendFailed)
        assert meeting.met.verdict is Verdict.PROVIDER_DOWN
        assert meeting.provider is not None and relay.providers.paused_channels() == []
        assert rows(engine, "outbox_attempts") == []
        decision = decide.decide(row, meeting.met, meeting.at, relay.settings, ms=meeting.ms)
        senders._doer.do(row, decision, meeting.provider)
    relay.outcomes.flush()
    assert relay.providers.paused_channels() == ["email"]
    assert [a["outcome"] for a in rows(engine, "outbox_attempts")] == ["provider_down"]


def test_an_accepted_send_is_met_with_the_providers_id_and_its_row_left_as_claimed(
    engine: Engine, make_relay: MakeRelay, claimer: Claimer, server: StagedSmtp
) -> None:
    relay = make_relay(smtp=parse_smtp_url(server.url()))
    queue_emails(engine, 1)
    [row] = claimer.claim(now=utcnow(), limit=1, lease_seconds=60)
    ticket = Precedence().enter(row.channel, row.priority)
    with relay.senders._meet.row(row, False, ticket) as meeting:
        assert isinstance(meeting.met, Accepted)
    assert len(server.script.accepted) == 1
    [claimed] = rows(engine, "outbox")
    assert (claimed["status"], claimed["attempts"]) == ("pending", 0)
    assert claimed["locked_until"] is not None
