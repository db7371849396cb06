"""SMTP PIPELINING (RFC 2920): MAIL, RCPT and DATA go in one write to a server that offers it,
each reply still judged at its own step (tests/relay/test_provider_stages.py runs the spec's table
every way); a server that answers DATA 354 after a refused recipient costs no timeout. With
CHUNKING (RFC 3030) too, the message goes in that write as one `BDAT <size> LAST` chunk, its
bytes as they are, no dot doubled: one round trip a message. Against Postfix's BDAT:
tests/e2e/test_postfix.py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from outbox_relay.channels import Email, smtp_wire
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.failures import UNANSWERED_RETRY_FLOOR, DeliveryFailure, Verdict
from shared.settings.smtp_url import parse_smtp_url
from support.smtp_stages import StagedSmtp

# Leading dots, and no CRLF at the end: the dot-stuffing and the ending smtplib's data() adds.
TEXT = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\nlast line"


def email(recipient: str = "to@example.com") -> Email:
    return Email(id="m1", sender="from@example.com", recipient=recipient, data=TEXT)


@pytest.fixture
def withheld(request: pytest.FixtureRequest) -> Iterator[StagedSmtp]:
    """Offers PIPELINING and answers MAIL and RCPT only once DATA arrives; parametrized
    `chunked`, offers CHUNKING too and answers them once the chunk arrives."""
    chunked = getattr(request, "param", "pipelined") == "chunked"
    with StagedSmtp(pipelining=True, chunking=chunked, withhold=True) as server:
        yield server


def channel_to(server: StagedSmtp, timeout: float) -> SmtpChannel:
    return SmtpChannel(parse_smtp_url(server.url(timeout=timeout)))


def send(channel: SmtpChannel) -> str | None:
    return channel.send(email(), start_by=time.monotonic() + 60)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("withheld", ["pipelined", "chunked"], indirect=True)
def test_a_server_answering_only_once_data_arrives_gets_every_message_pipelined(
    withheld: StagedSmtp,
) -> None:
    """A session waiting for each reply before its next command would wait out the timeout;
    chunked, each message is one chunk."""
    channel = channel_to(withheld, timeout=5)
    sessions = withheld.script.sessions  # the controller's own check that it listens
    assert [send(channel) for _ in range(3)] == ["0100018c-staged-000000"] * 3
    channel.close()
    assert withheld.script.sessions == sessions + 1
    arrived = withheld.script.wait_for(3)
    assert {m.get_content() for m in arrived} == {".one dot\r\n..two dots\r\nlast line\r\n"}
    assert {m["Subject"] for m in arrived} == {"dots"}
    assert withheld.script.chunks == (3 if withheld.script.chunking else 0)


@pytest.mark.timeout(20)
def test_the_withholding_server_holds_a_session_that_does_not_pipeline() -> None:
    """The check above is not luck: offered no PIPELINING, the relay goes step by step, and the
    same server keeps its reply to MAIL until the send's timeout."""
    server = StagedSmtp(pipelining=False, withhold=True)
    server.start()
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryFailure, match="timed out at mail"):
            send(channel_to(server, timeout=0.5))
        assert time.monotonic() - started < 2
        assert server.script.accepted == []
    finally:
        server.stop()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("stage", "reply", "verdict", "at"),
    [
        ("mail", "550 5.7.1 sender not allowed", Verdict.PROVIDER_DOWN, "mail"),
        ("mail", "421 4.3.2 closing", Verdict.PROVIDER_DOWN, "mail"),
        ("rcpt", "550 5.1.1 no such user", Verdict.PERMANENT, "rcpt"),
        ("rcpt", "450 4.2.1 mailbox busy", Verdict.TRANSIENT, "rcpt"),
        ("data_command", "554 5.5.1 no valid recipients", Verdict.PERMANENT, "data"),
        ("data", "552 5.3.4 Message size exceeds fixed limit", Verdict.PERMANENT, "data"),
        ("data", "451 4.3.0 local error", Verdict.TRANSIENT, "data"),
    ],
)
@pytest.mark.parametrize("withheld", ["pipelined", "chunked"], indirect=True)
def test_the_first_refusal_decides_not_the_503s_after_it_and_the_session_goes_on_if_it_can(
    withheld: StagedSmtp, stage: str, reply: str, verdict: Verdict, at: str
) -> None:
    """A refused MAIL makes RCPT and DATA 503s (`need MAIL command`): the failure is MAIL's,
    the provider's, and the next send opens a new session. Chunked, the server reads the chunk
    whatever it answered before (a refused recipient: `554 no valid recipients`). A refusal of
    the message alone (at RCPT or DATA) ends its transaction with RSET, and the next message
    goes in the same session."""
    channel = channel_to(withheld, timeout=5)
    sessions = withheld.script.sessions
    withheld.script.set(**{stage: reply})
    with pytest.raises(DeliveryFailure) as failed:
        send(channel)
    assert (failed.value.verdict, failed.value.description) == (verdict, f"SMTP {reply} at {at}")
    withheld.script.set(**{stage: None})
    assert send(channel) == "0100018c-staged-000000"
    channel.close()
    opened = 2 if at == "mail" else 1
    assert (withheld.script.sessions - sessions, len(withheld.script.accepted)) == (opened, 1)
    assert withheld.script.chunks == (2 if withheld.script.chunking else 0)


@pytest.mark.timeout(20)
def test_a_354_after_a_refused_recipient_drops_the_connection_at_once_and_delivers_nothing(
    withheld: StagedSmtp,
) -> None:
    """The server takes anything after its 354 as message text: a QUIT would wait out the
    5 s timeout, a lone dot could deliver an empty message. The relay drops the connection."""
    withheld.script.keep_refused_recipients = True
    withheld.script.set(rcpt="550 5.1.1 no such user")
    channel = channel_to(withheld, timeout=5)
    sessions = withheld.script.sessions
    started = time.monotonic()
    with pytest.raises(DeliveryFailure) as failed:
        send(channel)
    assert time.monotonic() - started < 1
    assert failed.value.verdict is Verdict.PERMANENT
    assert failed.value.description == "SMTP 550 5.1.1 no such user at rcpt"
    withheld.script.wait_until_open(0, timeout=1)
    assert withheld.script.accepted == []

    withheld.script.set(rcpt=None)
    assert send(channel) == "0100018c-staged-000000"
    channel.close()
    assert withheld.script.sessions - sessions == 2


@pytest.mark.timeout(20)
def test_chunking_without_pipelining_goes_step_by_step_with_data() -> None:
    """RFC 3030 pipelines BDAT only with PIPELINING; without it, the relay keeps to DATA."""
    server = StagedSmtp(pipelining=False, chunking=True)
    server.start()
    try:
        assert send(channel_to(server, timeout=5)) == "0100018c-staged-000000"
        [arrived] = server.script.wait_for(1)
        assert arrived.get_content() == ".one dot\r\n..two dots\r\nlast line\r\n"
        assert server.script.chunks == 0
    finally:
        server.stop()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("withheld", ["chunked"], indirect=True)
@pytest.mark.parametrize(
    ("reply", "error"),
    [("hang", "no reply to the end of DATA within 0.5s: outcome unknown"), ("drop", " at data")],
)
def test_a_server_silent_after_the_chunk_fails_the_send_at_data_within_its_bound(
    withheld: StagedSmtp, reply: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunk's reply is the end of DATA's, waited for to its own bound (600 s; cut here
    to 0.5 s): a server that never answers leaves the outcome unknown, retried no sooner than
    an hour later; one that drops the connection fails the send at DATA."""
    monkeypatch.setattr(smtp_wire, "END_OF_DATA_SECONDS", 0.5)
    withheld.script.set(data=reply)
    started = time.monotonic()
    with pytest.raises(DeliveryFailure) as failed:
        send(channel_to(withheld, timeout=1.0))
    assert time.monotonic() - started < 3.0
    assert failed.value.verdict is Verdict.TRANSIENT
    assert error in failed.value.description
    assert (failed.value.retry_floor == UNANSWERED_RETRY_FLOOR) == (reply == "hang")
    assert withheld.script.accepted == []
