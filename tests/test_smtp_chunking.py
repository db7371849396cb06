"""SMTP CHUNKING (RFC 3030): to a server offering it with PIPELINING, MAIL, RCPT and the message
as one `BDAT <size> LAST` chunk go in one write, one round trip a message; the message's bytes
as they are, no dot doubled; each reply still judged at its own step (the spec's table:
tests/test_provider_stages.py). Against Postfix's BDAT: tests/test_postfix.py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from outbox_relay.channels import Email
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.failures import DeliveryFailure, Verdict
from shared.config import parse_smtp_url
from support.smtp_stages import StagedSmtp

# Leading dots, and no CRLF at the end: DATA would double the dots and end the text.
TEXT = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\nlast line"


@pytest.fixture
def chunking() -> Iterator[StagedSmtp]:
    """Offers PIPELINING and CHUNKING, and answers MAIL and RCPT only once the chunk arrives."""
    server = StagedSmtp(pipelining=True, chunking=True, withhold=True)
    server.start()
    yield server
    server.stop()


def send(server: StagedSmtp, channel: SmtpChannel | None = None) -> str | None:
    channel = channel or SmtpChannel(parse_smtp_url(server.url(timeout=5)))
    message = Email(id="m1", sender="from@example.com", recipient="to@example.com", data=TEXT)
    return channel.send(message, start_by=time.monotonic() + 60)


@pytest.mark.timeout(20)
def test_each_message_goes_as_one_chunk_with_its_envelope_in_one_write(
    chunking: StagedSmtp,
) -> None:
    """The server answers MAIL and RCPT only after the chunk: a client waiting for either
    before sending it would wait out its timeout."""
    channel = SmtpChannel(parse_smtp_url(chunking.url(timeout=5)))
    sessions = chunking.script.sessions
    assert [send(chunking, channel) for _ in range(3)] == ["0100018c-staged-000000"] * 3
    channel.close()
    assert (chunking.script.sessions - sessions, chunking.script.chunks) == (1, 3)
    arrived = chunking.script.wait_for(3)
    assert {m.get_content() for m in arrived} == {".one dot\r\n..two dots\r\nlast line\r\n"}
    assert {m["Subject"] for m in arrived} == {"dots"}


@pytest.mark.timeout(20)
def test_chunking_without_pipelining_goes_step_by_step_with_data() -> None:
    """RFC 3030 pipelines BDAT only with PIPELINING; without it, the relay keeps to DATA."""
    server = StagedSmtp(pipelining=False, chunking=True)
    server.start()
    try:
        assert send(server) == "0100018c-staged-000000"
        [arrived] = server.script.wait_for(1)
        assert arrived.get_content() == ".one dot\r\n..two dots\r\nlast line\r\n"
        assert server.script.chunks == 0
    finally:
        server.stop()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("stage", "reply", "verdict", "at"),
    [
        ("mail", "550 5.7.1 sender not allowed", Verdict.PROVIDER_DOWN, "mail"),
        ("rcpt", "550 5.1.1 no such user", Verdict.PERMANENT, "rcpt"),
        ("rcpt", "450 4.2.1 mailbox busy", Verdict.TRANSIENT, "rcpt"),
        ("data", "552 5.3.4 Message size exceeds fixed limit", Verdict.PERMANENT, "data"),
        ("data", "451 4.3.0 local error", Verdict.TRANSIENT, "data"),
    ],
)
def test_the_first_refusal_decides_not_the_chunks_reply_after_it(
    chunking: StagedSmtp, stage: str, reply: str, verdict: Verdict, at: str
) -> None:
    """The server reads the chunk whatever it answered before (a refused recipient: `554 no
    valid recipients`); the failure is the first refusal's, and the next send starts afresh."""
    channel = SmtpChannel(parse_smtp_url(chunking.url(timeout=5)))
    sessions = chunking.script.sessions
    chunking.script.set(**{stage: reply})
    with pytest.raises(DeliveryFailure) as failed:
        send(chunking, channel)
    assert (failed.value.verdict, failed.value.description) == (verdict, f"SMTP {reply} at {at}")
    chunking.script.set(**{stage: None})
    assert send(chunking, channel) == "0100018c-staged-000000"
    channel.close()
    assert (chunking.script.sessions - sessions, len(chunking.script.accepted)) == (2, 1)
    assert chunking.script.chunks == 2


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("reply", "error"), [("hang", "timed out"), ("drop", "")])
def test_a_server_silent_after_the_chunk_fails_the_send_at_data_within_its_timeout(
    chunking: StagedSmtp, reply: str, error: str
) -> None:
    chunking.script.set(data=reply)
    channel = SmtpChannel(parse_smtp_url(chunking.url(timeout=0.5)))
    started = time.monotonic()
    with pytest.raises(DeliveryFailure) as failed:
        send(chunking, channel)
    assert time.monotonic() - started < 1.5
    assert failed.value.verdict is Verdict.TRANSIENT
    assert failed.value.description.endswith(" at data")
    assert error in failed.value.description
    assert chunking.script.accepted == []
