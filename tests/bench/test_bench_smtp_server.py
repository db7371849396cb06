"""The benches' lean SMTP server speaks enough SMTP for smtplib and the relay's SMTP channel."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from bench.common import sink_process
from bench.smtp_server import serve
from outbox_relay.channels import Email
from outbox_relay.channels.smtp import SmtpChannel
from shared.settings.smtp_url import parse_smtp_url
from support import processes
from support.ports import free_port

MESSAGE = b"Message-ID: <1@bench>\r\nSubject: hi\r\n\r\n.a line that starts with a dot\r\n.\r\nend"


def _serving(delays: list[float]) -> tuple[int, list[bytes]]:
    """A server in a daemon thread answering `delays` in turn (0 after); its port and inbox."""
    port, received = free_port(), []

    def receive(message: bytes) -> float:
        received.append(message)
        return delays.pop(0) if delays else 0.0

    threading.Thread(target=serve, args=(receive, port), daemon=True).start()
    processes.eventually(lambda: processes.listening(port), 10, "the server listening")
    return port, received


def test_messages_arrive_whole_over_one_connection() -> None:
    port, received = _serving([])
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.noop()
        for _ in range(3):
            assert smtp.sendmail("a@bench.test", ["b@bench.test"], MESSAGE) == {}
    # smtplib doubles a leading dot and ends the data with CRLF; the server hands it over as sent.
    sent = MESSAGE.replace(b"\r\n.", b"\r\n..") + b"\r\n"
    assert received == [sent] * 3


@contextmanager
def _greeted(port: int) -> Iterator[tuple[socket.socket, BinaryIO, list[bytes]]]:
    """A raw connection to the server on `port`, its replies, and the greeting and EHLO's
    reply lines."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        replies = sock.makefile("rb")
        sock.sendall(b"EHLO relay\r\n")
        lines = [replies.readline(), replies.readline()]
        while lines[-1].startswith(b"250-"):
            lines.append(replies.readline())
        yield sock, replies, lines


def test_pipelining_is_offered_and_a_transaction_in_one_packet_is_answered_in_order() -> None:
    port, received = _serving([])
    with _greeted(port) as (sock, replies, ehlo):
        assert b"250-PIPELINING\r\n" in ehlo
        # MAIL, RCPT and DATA in one packet as the relay sends them, then the message and QUIT.
        sock.sendall(b"MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nDATA\r\n")
        assert [replies.readline()[:4] for _ in range(3)] == [b"250 ", b"250 ", b"354 "]
        sock.sendall(b"hi\r\n.\r\nQUIT\r\n")
        assert [replies.readline()[:4] for _ in range(2)] == [b"250 ", b"221 "]
    assert received == [b"hi\r\n"]


def test_chunking_is_offered_and_chunks_make_one_message_whatever_their_bytes() -> None:
    """BDAT's chunks are taken by their size: a lone dot inside one does not end it."""
    port, received = _serving([])
    with _greeted(port) as (sock, replies, ehlo):
        assert b"250-CHUNKING\r\n" in ehlo
        sock.sendall(b"MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nBDAT 7\r\nhi\r\n.\r\n")
        sock.sendall(b"BDAT 6 LAST\r\n.end\r\nBDAT x\r\nQUIT\r\n")
        assert [replies.readline()[:4] for _ in range(6)] == [
            *[b"250 "] * 4,
            b"501 ",
            b"221 ",
        ]
    assert received == [b"hi\r\n.\r\n.end\r\n"]


def test_without_chunking_bdat_is_not_offered_nor_understood() -> None:
    with sink_process(chunking=False) as port, _greeted(port) as (sock, replies, ehlo):
        assert b"250-PIPELINING\r\n" in ehlo and b"250-CHUNKING\r\n" not in ehlo
        sock.sendall(b"BDAT 2 LAST\r\n")
        assert replies.readline()[:4] == b"500 "


def test_the_relay_channel_delivers_and_a_delay_holds_the_answer() -> None:
    port, received = _serving([0.3])
    channel = SmtpChannel(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=5"))
    email = Email(id="m1", sender="a@bench.test", recipient="b@bench.test", data=MESSAGE)
    started = time.monotonic()
    channel.send(email, start_by=time.monotonic() + 60)
    assert time.monotonic() - started == pytest.approx(0.3, abs=0.2)
    channel.send(email, start_by=time.monotonic() + 60)
    channel.close()
    assert len(received) == 2


def test_the_slow_sink_tallies_each_message_it_accepts(tmp_path: Path) -> None:
    tally = tmp_path / "tally"
    tally.touch()
    with sink_process(0.0, tally) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        for _ in range(3):
            smtp.sendmail("a@bench.test", ["b@bench.test"], MESSAGE)
        processes.eventually(lambda: tally.stat().st_size == 3, 10, "three messages tallied")
