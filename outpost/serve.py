"""`outpost serve`: the production API, gunicorn with the packaged configuration."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from shared.runtime import tracing
from shared.settings.config import Settings
from shared.settings.processes import LOG_LEVEL, OUTPOST_BIND, WEB_CONCURRENCY

GUNICORN_CONFIG = "python:outpost.gunicorn_conf"
APPLICATION = "api_service:create_app()"


@dataclass(frozen=True)
class ServeSettings:
    """What gunicorn takes from the environment, beside the API's own Settings."""

    bind: str
    workers: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeSettings:
        """Parse OUTPOST_BIND, WEB_CONCURRENCY and LOG_LEVEL; ConfigError naming a bad one."""
        return cls(
            bind=OUTPOST_BIND.read(environ),
            workers=WEB_CONCURRENCY.read(environ),
            log_level=LOG_LEVEL.read(environ),
        )


def read_at_start(environ: Mapping[str, str]) -> tuple[ServeSettings, Settings]:
    """What `outpost serve` reads before it loads the API: gunicorn's settings, the API's and,
    when OTEL_EXPORTER_OTLP_ENDPOINT asks for traces, the `traces` extra; ConfigError naming
    the first variable refused (`outpost check` reports the same)."""
    served = ServeSettings.from_env(environ)
    settings = Settings.from_env(environ)
    tracing.require(environ)
    return served, settings


def serve() -> NoReturn:
    """Become gunicorn, in this process: under systemd the arbiter is the unit's main PID, so
    its READY=1, SIGUSR2 on reload and SIGTERM on stop reach the right process.

    The configuration is checked first, raising ConfigError (one line, exit 2, which the unit
    never restarts): gunicorn would exit 3 or 4 for an application that fails to load. So is
    the `traces` extra, when OTEL_EXPORTER_OTLP_ENDPOINT asks for traces.
    """
    read_at_start(os.environ)
    command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, APPLICATION]
    sys.stdout.flush()
    os.execv(sys.executable, command)
