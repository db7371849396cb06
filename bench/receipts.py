"""An SMTP server that writes the time each message arrived, for the latency bench.

`python -m bench.receipts PORT FILE`: one line `<epoch seconds> <Message-ID>` per message,
flushed at once. Run as a process of its own so the bench's timing shares no interpreter.
"""

from __future__ import annotations

import email.parser
import sys
import time
from typing import IO, Any

from bench.common import serve_smtp

_HEADERS = email.parser.BytesHeaderParser()


class Receipts:
    """Records the arrival time and Message-ID of every message, then accepts it."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.time()
        message_id = _HEADERS.parsebytes(envelope.original_content)["Message-ID"]
        self._out.write(f"{arrived:.6f} {message_id}\n")
        self._out.flush()
        return "250 Message accepted"


def main() -> int:
    """Serve until killed."""
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "a", encoding="ascii") as out:
        serve_smtp(Receipts(out), port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
