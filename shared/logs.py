"""Log setup shared by both processes: one line an event, on stderr."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    """Send INFO and above to stderr unless the host application already configured logging."""
    # The scheduler logs every poll at INFO; only its problems matter here.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
