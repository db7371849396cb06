"""An SMTP server that writes the time each message arrived and its Message-ID, for the benches.

`python -m bench.receipts PORT FILE`: one line `<epoch seconds> <Message-ID>` per message,
flushed at once. Run as a process of its own so the bench's timing shares no interpreter.
"""

from __future__ import annotations

import email.parser
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Tally:
    """What an SMTP server received against what was queued, by Message-ID."""

    by_relay: Counter[str]  # messages by the Message-ID's domain (each relay signs with its own)
    lost: int
    twice: int  # messages received more than once
    strays: int  # Message-IDs of no queued message

    @property
    def exactly_once(self) -> bool:
        return not (self.lost or self.twice or self.strays)


def tally(queued: Iterable[str], receipts: Iterable[str]) -> Tally:
    """Count receipts (`<time> <public id@domain>` lines, bench/receipts.py) against `queued`."""
    received: Counter[str] = Counter()
    by_relay: Counter[str] = Counter()
    for line in receipts:
        public_id, _, domain = line.split(" ", 1)[1].strip().strip("<>").partition("@")
        received[public_id] += 1
        by_relay[domain] += 1
    expected = set(queued)
    return Tally(
        by_relay,
        lost=len(expected - received.keys()),
        twice=sum(1 for times in received.values() if times > 1),
        strays=len(received.keys() - expected),
    )


def main() -> int:
    """Serve until killed."""
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "a", encoding="ascii") as out:
        serve(Receipts(out), port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
