"""An SMTP server that writes the time each message arrived, for the latency bench.

`python -m bench.receipts PORT FILE`: one line `<epoch seconds> <Message-ID>` per message,
flushed at once. Run as a process of its own so the bench's timing shares no interpreter.
"""

from __future__ import annotations

import email.parser
import sys
import time
from typing import IO

from bench.smtp_server import serve

_HEADERS = email.parser.BytesHeaderParser()


class Receipts:
    """Records the arrival time and Message-ID of every message, then accepts it at once."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def __call__(self, message: bytes) -> float:
        arrived = time.time()
        message_id = _HEADERS.parsebytes(message)["Message-ID"]
        self._out.write(f"{arrived:.6f} {message_id}\n")
        self._out.flush()
        return 0.0


def main() -> int:
    """Serve until killed."""
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "a", encoding="ascii") as out:
        serve(Receipts(out), port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
