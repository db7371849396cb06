"""The benches' SMTP server: just enough SMTP for smtplib, at as little CPU as asyncio allows.

It stands in for a provider's server, which would not share the API's cores, so its own work
is an artefact of running everything on one machine: aiosmtpd, which the tests use for its
faults on demand, spent 0.9 ms of CPU a message here; this spends a fraction of that (see the
README's figures). It offers PIPELINING and CHUNKING, as Postfix and the big providers do:
MAIL, RCPT and DATA or BDAT may arrive in one packet, the message too; the message is handed
over unparsed. Without `chunking`, it offers PIPELINING alone, as servers such as aiosmtpd do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Told each message as it ends; answers the seconds to wait before accepting it.
Receive = Callable[[bytes], float]

_END_OF_DATA = b"\r\n.\r\n"
_REPLIES = {
    b"EHLO": b"250-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    b"HELO": b"250 bench\r\n",
    b"MAIL": b"250 OK\r\n",
    b"RCPT": b"250 OK\r\n",
    b"RSET": b"250 OK\r\n",
    b"NOOP": b"250 OK\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"QUIT": b"221 Bye\r\n",
}
# The same, offering CHUNKING too.
_REPLIES_CHUNKING = {
    **_REPLIES,
    b"EHLO": _REPLIES[b"EHLO"].replace(b"250-8BITMIME", b"250-CHUNKING\r\n250-8BITMIME"),
}
_UNKNOWN = b"500 Command unrecognized\r\n"
_ACCEPTED = b"250 Message accepted\r\n"
_CHUNK = b"250 Chunk accepted\r\n"
_BAD_BDAT = b"501 Syntax: BDAT size [LAST]\r\n"


class _Session(asyncio.Protocol):
    """One client's connection: commands line by line, then a message up to its lone dot or
    as BDAT's chunks up to the LAST one."""

    def __init__(self, receive: Receive, chunking: bool) -> None:
        self._receive = receive
        self._chunking = chunking
        self._replies = _REPLIES_CHUNKING if chunking else _REPLIES
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._in_data = False
        self._scanned = 0  # where the search for the end of DATA resumes
        self._holding = False  # a message waits for its delay; later input waits too
        self._chunk: tuple[int, bool] | None = None  # a BDAT chunk's size, and whether LAST
        self._chunks = bytearray()  # the message's chunks so far

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(b"220 bench ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while not self._holding:
            if self._chunk is not None:
                size, last = self._chunk
                if len(self._buffer) < size:
                    return
                self._chunks += self._buffer[:size]
                del self._buffer[:size]
                self._chunk = None
                if last:
                    message = bytes(self._chunks)
                    self._chunks.clear()
                    self._message(message)
                else:
                    self._write(_CHUNK)
            elif self._in_data:
                end = self._buffer.find(_END_OF_DATA, self._scanned)
                if end < 0:
                    self._scanned = max(0, len(self._buffer) - len(_END_OF_DATA) + 1)
                    return
                # The buffer of a message starts with the CRLF that ended the DATA command,
                # so that a message's first line can be its lone dot.
                message = bytes(self._buffer[2 : end + 2])
                del self._buffer[: end + len(_END_OF_DATA)]
                self._in_data = False
                self._message(message)
            else:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                self._command(line)

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"BDAT" and self._chunking:
            words = line.split()
            if (
                len(words) not in (2, 3)
                or not words[1].isdigit()
                or words[2:] not in ([], [b"LAST"])
            ):
                self._write(_BAD_BDAT)
                return
            self._chunk = (int(words[1]), len(words) == 3)
            return
        self._write(self._replies.get(verb, _UNKNOWN))
        if verb == b"DATA":
            self._in_data = True
            self._buffer[:0] = b"\r\n"
            self._scanned = 0
        elif verb == b"QUIT":
            assert self._transport is not None
            self._transport.close()

    def _write(self, reply: bytes) -> None:
        assert self._transport is not None
        self._transport.write(reply)

    def _message(self, message: bytes) -> None:
        delay = self._receive(message)
        if not delay:
            self._accept()
            return
        self._holding = True
        asyncio.get_running_loop().call_later(delay, self._accept_held)

    def _accept_held(self) -> None:
        self._holding = False
        self._accept()
        self._process()

    def _accept(self) -> None:
        assert self._transport is not None
        if not self._transport.is_closing():
            self._transport.write(_ACCEPTED)


def serve(receive: Receive, port: int, chunking: bool = True) -> None:
    """Serve on 127.0.0.1:`port` until the process is killed."""

    async def forever() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Session(receive, chunking), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(forever())
