"""`outpost serve`: the production API, gunicorn with the packaged configuration."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

GUNICORN_CONFIG = "python:outpost.gunicorn_conf"
APPLICATION = "api_service:create_app()"


def serve() -> NoReturn:
    """Become gunicorn, in this process: under systemd the arbiter is the unit's main PID, so
    its READY=1, SIGHUP on reload and SIGTERM on stop reach the right process."""
    command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, APPLICATION]
    sys.stdout.flush()
    os.execv(sys.executable, command)
