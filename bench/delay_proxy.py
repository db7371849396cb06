"""A TCP proxy that puts a database a network hop away and counts the round trips made through it.

Run as its own process (`python -m bench.delay_proxy PORT UPSTREAM_PORT DELAY_MS COUNT_FILE
[TRACE_FILE]`): each chunk a client sends waits DELAY_MS before it is forwarded, so each round
trip costs DELAY_MS more, as across a zone; answers come back at once. Every chunk from a
client is a round trip (a client sends one and waits for its answer; a pipelined batch is one
chunk, one wait). The count so far is written to COUNT_FILE every 0.1 s, for the bench to read
around a load; with TRACE_FILE, each round trip's first statement is appended to it as a line.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import sys
from pathlib import Path
from typing import TextIO

WRITE_EVERY = 0.1


class Proxy:
    """Forwards connections to 127.0.0.1:`upstream`, delaying what clients send."""

    def __init__(self, upstream: int, delay: float, trace: TextIO | None = None) -> None:
        self.upstream = upstream
        self.delay = delay
        self.trace = trace
        self.round_trips = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection, to its end."""
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, server_writer, delayed=True),
            self._pipe(server_reader, writer, delayed=False),
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        prepared: dict[bytes, str] = {}  # this connection's prepared statements, by name
        try:
            while chunk := await reader.read(65536):
                if delayed:
                    self.round_trips += 1
                    if self.trace is not None:
                        self.trace.write(statement_of(chunk, prepared) + "\n")
                        self.trace.flush()
                    await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def statement_of(chunk: bytes, prepared: dict[bytes, str]) -> str:
    """The first statement a chunk of PostgreSQL's protocol carries, its words on one line: a
    simple query (`Q`), a `P`arse (remembered in `prepared` when named) or the `B`ind of a
    statement prepared earlier; else what kind of message the chunk opens with."""
    at, found = 0, ""
    while at + 5 <= len(chunk):
        kind, length = chunk[at : at + 1], struct.unpack("!i", chunk[at + 1 : at + 5])[0]
        body = chunk[at + 5 : at + 1 + length]
        if kind == b"Q":
            found = found or _words(body.split(b"\0", 1)[0])
        elif kind == b"P":
            name, sql, _rest = body.split(b"\0", 2)
            if name:
                prepared[name] = _words(sql)
            found = found or _words(sql)
        elif kind == b"B":
            _portal, name, _rest = body.split(b"\0", 2)
            found = found or prepared.get(name, "")
        at += 1 + length
    return found or f"(protocol message {chunk[:1]!r})"


def _words(sql: bytes) -> str:
    return re.sub(r"\s+", " ", sql.decode("utf-8", "replace")).strip()[:100]


async def main(
    port: int, upstream: int, delay_ms: float, counts: Path, trace: TextIO | None
) -> None:
    """Serve until killed, writing the round trips counted so far every WRITE_EVERY seconds."""
    proxy = Proxy(upstream, delay_ms / 1000, trace)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", port)
    staged = counts.with_suffix(".new")
    async with server:
        while True:
            staged.write_text(str(proxy.round_trips))
            os.replace(staged, counts)
            await asyncio.sleep(WRITE_EVERY)


if __name__ == "__main__":
    listen, upstream_port, delay, count_file = sys.argv[1:5]
    traced = open(sys.argv[5], "a") if len(sys.argv) > 5 else None  # noqa: SIM115
    asyncio.run(main(int(listen), int(upstream_port), float(delay), Path(count_file), traced))
