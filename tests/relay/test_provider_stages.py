"""Each failure class of the spec's table, answered by a real SMTP server at the step where
providers send it, ends as the spec says, whether the session is step by step, pipelined or
pipelined with the message as a chunk; AUTH with a password, and 535 for a wrong one (TLS:
test_smtp_tls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.settings.smtp_url import parse_smtp_url
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.rows import rows, wait_out_deferrals
from support.smtp_stages import StagedSmtp

LOGIN = ("outpost", "s3cret pass")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[StagedSmtp]:
    """Step by step; parametrized, `pipelined` offers PIPELINING, `withheld` also holds its
    replies to MAIL and RCPT until DATA arrives, which only a pipelined session gets past, and
    `chunked` holds them so too, offering CHUNKING (BDAT in place of DATA) as well."""
    session = getattr(request, "param", "stepwise")
    staged = StagedSmtp(
        login=LOGIN,
        pipelining=session != "stepwise",
        chunking=session == "chunked",
        withhold=session in ("withheld", "chunked"),
    )
    staged.start()
    yield staged
    staged.stop()


# Steps answered before a message is sent: a refusal there sends no chunk.
SESSION_STEPS = ("greeting", "ehlo", "auth")


def relay_for(make_relay: MakeRelay, staged: StagedSmtp, password: str = LOGIN[1]) -> Relay:
    url = staged.url(user=LOGIN[0], password=password.replace(" ", "%20"))
    return make_relay(smtp=parse_smtp_url(url), relay_backoff_base=60.0, relay_backoff_cap=60.0)


def the_row(engine: Engine) -> dict[str, object]:
    [row] = rows(engine, "outbox")
    return row


def outcomes(engine: Engine) -> list[str]:
    return [str(a["outcome"]) for a in rows(engine, "outbox_attempts")]


# (step, reply, what becomes of the message): "down" = the provider is paused and the row
# waits with no attempt counted; "retry" = transient; "dead" = permanent.
CASES = [
    ("greeting", "554 5.7.1 no service for you", "down"),
    ("greeting", "421 4.3.2 shutting down", "down"),
    ("ehlo", "550 5.7.1 not welcome", "down"),
    ("auth", "535 5.7.8 Authentication credentials invalid", "down"),
    ("auth", "454 4.7.0 temporary authentication failure", "down"),
    ("mail", "550 5.7.1 sender not allowed", "down"),
    ("mail", "550 5.4.5 Daily user sending quota exceeded", "down"),
    ("mail", "451 4.3.0 try later", "down"),
    ("rcpt", "454 4.7.0 Throttling failure: Maximum sending rate exceeded", "down"),
    ("mail", "450 4.7.1 Error: too much mail from 127.0.0.1", "down"),
    ("data", "421 4.7.0 too many messages", "down"),
    ("data_command", "421 4.7.0 too many messages", "down"),
    ("rcpt", "450 4.2.1 mailbox busy", "retry"),
    ("rcpt", "452 4.5.3 too many recipients", "retry"),
    ("rcpt", "550 5.7.1 relaying denied", "retry"),
    ("rcpt", "450 4.7.1 <a@example.com>: Recipient address rejected: Greylisted", "retry"),
    ("data", "451 4.7.1 try again later", "retry"),
    ("data", "drop", "retry"),
    ("data", "451 4.3.0 local error", "retry"),
    ("data_command", "451 4.3.0 try later", "retry"),
    ("rcpt", "550 5.1.1 no such user", "dead"),
    ("rcpt", "552 5.2.2 mailbox full", "dead"),
    ("data", "554 5.6.0 content refused", "dead"),
    ("data", "550 no enhanced code", "dead"),
    ("data_command", "554 5.5.1 Error: no valid recipients", "dead"),
]


@pytest.mark.parametrize("server", ["stepwise", "withheld", "chunked"], indirect=True)
@pytest.mark.parametrize(("stage", "reply", "becomes"), CASES)
def test_a_reply_at_a_step_ends_the_message_as_the_spec_says(
    engine: Engine,
    make_relay: MakeRelay,
    server: StagedSmtp,
    stage: str,
    reply: str,
    becomes: str,
) -> None:
    server.script.set(**{stage: reply})
    queue_emails(engine, 1)
    relay = relay_for(make_relay, server)
    relay.drain()
    row = the_row(engine)
    expected = {
        "down": ("pending", None, 0, ["provider_down"]),
        "retry": ("pending", None, 1, ["transient"]),
        "dead": ("dead", "permanent_error", 1, ["permanent"]),
    }[becomes]
    assert (row["status"], row["dead_reason"], row["attempts"], outcomes(engine)) == expected
    assert ("email" in relay.providers.paused_channels()) == (becomes == "down")
    # The DATA command's refusal, in place of its 354, is judged at DATA as the message's.
    assert f"at {stage.removesuffix('_command')}" in str(row["last_error"])
    assert server.script.accepted == []
    # The message went as a chunk, whatever the server answered before it.
    assert server.script.chunks == (server.script.chunking and stage not in SESSION_STEPS)


@pytest.mark.parametrize("server", ["stepwise", "pipelined"], indirect=True)
def test_a_provider_slow_at_every_step_is_cut_off_at_one_timeout_for_the_whole_send(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """Each step answers inside the 1 s timeout but the session takes 1.6 s: the lease is sized
    for one timeout a send, so the send must end at 1 s (transient), not outlive it; pipelined
    too, where the three replies are read under the same deadline."""
    server.script.set(ehlo="wait:0.4", mail="wait:0.4", rcpt="wait:0.4", data="wait:0.4")
    queue_emails(engine, 1)
    url = server.url(timeout=1.0, user=LOGIN[0], password=LOGIN[1].replace(" ", "%20"))
    relay = make_relay(smtp=parse_smtp_url(url), relay_backoff_base=60.0)
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["attempts"], outcomes(engine)) == ("pending", 1, ["transient"])
    # Cut during RCPT, 1.2 s into the session: no step alone took a timeout. The send's own
    # time (not the claim's and the write's, which a loaded machine stretches) ends near 1 s.
    assert "timed out at rcpt" in str(row["last_error"])
    [attempt] = rows(engine, "outbox_attempts")
    assert attempt["duration_ms"] < 1400, attempt["duration_ms"]
    assert server.script.accepted == []


def test_policy_refusals_of_three_recipients_pause_the_provider(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    server.script.set(rcpt="550 5.7.1 refused by policy")
    queue_emails(engine, 3)
    relay = relay_for(make_relay, server)
    relay.drain()
    assert "email" in relay.providers.paused_channels()
    assert sorted(outcomes(engine)) == ["provider_down", "transient", "transient"]
    assert [r["status"] for r in rows(engine, "outbox")] == ["pending"] * 3


def test_the_right_password_delivers_and_a_fixed_auth_resumes_the_provider(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    relay = relay_for(make_relay, server, password="wrong")
    queue_emails(engine, 2)
    relay.drain()
    assert [r["status"] for r in rows(engine, "outbox")] == ["pending"] * 2
    assert "SMTP 535 5.7.8" in str(relay.providers.status())
    assert server.script.auth_attempts >= 1

    # Restarted with the right password: the messages go once due (the one that paused the
    # provider just after the probe it would have been).
    fixed = relay_for(make_relay, server)
    wait_out_deferrals(engine)
    assert fixed.drain() == 2
    assert [str(m["To"]) for m in server.script.wait_for(2)] != []
    assert {r["status"] for r in rows(engine, "outbox")} == {"sent"}
    assert {r["attempts"] for r in rows(engine, "outbox")} == {1}


def test_greylisting_is_each_messages_business_and_never_pauses_the_provider(
    engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """A greylister defers every new recipient: each deferred message waits at least a
    minute, in one session, and the provider, which takes mail, is never paused."""
    server.script.set(rcpt="450 4.7.1 <x@example.com>: Recipient address rejected: Greylisted")
    queue_emails(engine, 5)
    sessions = server.script.sessions
    relay = relay_for(make_relay, server)
    started = utcnow()
    relay.drain()
    # (No webhook endpoint is configured: that channel has no provider at all.)
    assert "email" not in relay.providers.paused_channels()
    assert sorted(outcomes(engine)) == ["transient"] * 5
    for row in rows(engine, "outbox"):
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["next_attempt_at"] >= started + timedelta(seconds=60)
    assert server.script.sessions - sessions <= 2
