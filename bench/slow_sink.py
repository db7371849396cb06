"""An SMTP server that takes a set time to accept each message, and keeps nothing.

`python -m bench.slow_sink PORT SECONDS [--tally FILE] [--no-chunking]`: a process of its own,
so that the server's work is not counted against the bench's interpreter. With a tally, one
byte is appended to that file for each message accepted, so a bench can tell when a sender it
cannot see is done. `--no-chunking` offers PIPELINING without CHUNKING.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack

from bench.smtp_server import serve


def main() -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--tally")
    parser.add_argument("--no-chunking", action="store_true")
    args = parser.parse_args()
    seconds: float = args.seconds
    with ExitStack() as files:
        tally = files.enter_context(open(args.tally, "ab", buffering=0)) if args.tally else None

        def received(_message: bytes) -> float:
            if tally is not None:
                tally.write(b".")
            return seconds

        serve(received, args.port, chunking=not args.no_chunking)
    return 0


if __name__ == "__main__":
    sys.exit(main())
