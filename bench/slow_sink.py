"""An SMTP server that takes a set time to accept each message, and keeps nothing.

`python -m bench.slow_sink PORT SECONDS`: a process of its own, so that the server's work is
not counted against the bench's interpreter.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bench.common import serve_smtp


class SlowSink:
    """Waits `delay` seconds after each message's DATA, then accepts it."""

    def __init__(self, delay: float) -> None:
        self._delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._delay:
            await asyncio.sleep(self._delay)
        return "250 Message accepted"


def main() -> int:
    """Serve until killed."""
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    serve_smtp(SlowSink(delay), port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
