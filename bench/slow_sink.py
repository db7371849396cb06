"""An SMTP server that takes a set time to accept each message, and keeps nothing.

`python -m bench.slow_sink PORT SECONDS`: a process of its own, so that the server's work is
not counted against the bench's interpreter.
"""

from __future__ import annotations

import sys

from bench.smtp_server import serve


def main() -> int:
    """Serve until killed."""
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    serve(lambda _message: delay, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
