"""The benches' SMTP server: just enough SMTP for smtplib, at as little CPU as asyncio allows.

It stands in for a provider's server, which would not share the API's cores, so its own work
is an artefact of running everything on one machine: aiosmtpd, which the tests use for its
faults on demand, spent 0.9 ms of CPU a message here; this spends a fraction of that (see the
README's figures). It offers PIPELINING, as providers do: MAIL, RCPT and DATA may arrive in
one packet, the message too; the message is handed over unparsed.
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
_UNKNOWN = b"500 Command unrecognized\r\n"
_ACCEPTED = b"250 Message accepted\r\n"


class _Session(asyncio.Protocol):
    """One client's connection: commands line by line, then a message up to its lone dot."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._in_data = False
        self._scanned = 0  # where the search for the end of DATA resumes
        self._holding = False  # a message waits for its delay; later input waits too

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(b"220 bench ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while not self._holding:
            if self._in_data:
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
                verb = bytes(self._buffer[:4]).upper()
                del self._buffer[: end + 2]
                self._command(verb)

    def _command(self, verb: bytes) -> None:
        assert self._transport is not None
        self._transport.write(_REPLIES.get(verb, _UNKNOWN))
        if verb == b"DATA":
            self._in_data = True
            self._buffer[:0] = b"\r\n"
            self._scanned = 0
        elif verb == b"QUIT":
            self._transport.close()

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


def serve(receive: Receive, port: int) -> None:
    """Serve on 127.0.0.1:`port` until the process is killed."""

    async def forever() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Session(receive), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(forever())
