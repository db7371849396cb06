"""An SMTP server that takes a set time to accept each message, and keeps nothing.

`python -m bench.slow_sink PORT SECONDS [TALLY]`: a process of its own, so that the server's
work is not counted against the bench's interpreter. With TALLY, one byte is appended to that
file for each message accepted, so a bench can tell when a sender it cannot see is done.
"""

from __future__ import annotations

import sys

from bench.smtp_server import serve


def main() -> int:
    """Serve until killed."""
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    if len(sys.argv) < 4:
        serve(lambda _message: delay, port)
        return 0
    with open(sys.argv[3], "ab", buffering=0) as tally:

        def counted(_message: bytes) -> float:
            tally.write(b".")
            return delay

        serve(counted, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
