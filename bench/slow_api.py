"""A mail provider's HTTP API for the benches, in a process of its own: it takes each request,
holds it `delay` seconds, then answers Postmark's success (bench/mail_api_latency.py). One
asyncio loop, as bench/slow_sink.py's SMTP server: a thread a connection would make the server,
not the relay, what a drain measures.

`python -m bench.slow_api PORT DELAY`: serves on 127.0.0.1:PORT until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Answer each request of one kept-alive connection after `delay`."""
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            await asyncio.sleep(delay)
            body = json.dumps({"MessageID": str(uuid.uuid4()), "ErrorCode": 0, "Message": "OK"})
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(port: int, delay: float) -> None:
    """Listen until killed."""
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, delay), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> int:
    """Serve until killed."""
    asyncio.run(_main(int(sys.argv[1]), float(sys.argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
