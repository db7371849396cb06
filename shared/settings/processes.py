"""The variables of the processes themselves, read beside Settings: gunicorn's bind and
workers, the log level, and what `outpost up` tells the API it runs."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

from shared.settings import config_values as values
from shared.settings.variable import Environ, Group, Variable

PROCESSES = Group(
    "The API's processes and the logs",
    "What `outpost serve` gives gunicorn, and how much both processes log. Logs are JSON "
    "lines on stderr, every one of them (gunicorn's access and error lines included).",
)
DEMO = Group(
    "Set by `outpost up`",
    "What the demo stack tells the API it runs; never set by hand.",
)
DEFAULT_BIND = "127.0.0.1:8000"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# gunicorn's TCP forms: HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; HOST may be empty (every address).
_TCP = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]*))(?::(?P<port>\d+))?\Z")


def tcp_address(value: str) -> tuple[str, int]:
    """The host and port of a TCP bind (port 8000 when it names none, as gunicorn does)."""
    found = _TCP.match(value)
    port = int(found["port"] or 8000) if found else 0
    if not found or not 0 < port <= 65535:
        raise ValueError(f"HOST:PORT or [IPv6]:PORT (e.g. {DEFAULT_BIND}), got {value!r}")
    return found["v6"] or found["host"], port


def bind(value: str) -> str:
    """OUTPOST_BIND: a TCP address, or gunicorn's `unix:PATH`."""
    if not value.startswith("unix:"):
        tcp_address(value)
    return value


def level(value: str) -> str:
    """A logging level's name, any case; INFO when blank."""
    name = value.strip().upper() or "INFO"
    if name not in LEVELS:
        raise ValueError(f"must be one of {', '.join(LEVELS)}, got {name!r}")
    return name


def _cores(_environ: Environ) -> str:
    return str(multiprocessing.cpu_count())


OUTPOST_BIND = Variable(
    name="OUTPOST_BIND",
    group=PROCESSES,
    meaning=(
        "Where gunicorn listens: behind the shipped nginx site, a loopback address "
        "([install](install.md))."
    ),
    parse=bind,
    default=DEFAULT_BIND,
    checks="`HOST:PORT`, `[IPv6]:PORT` or `unix:PATH`",
)
WEB_CONCURRENCY = Variable(
    name="WEB_CONCURRENCY",
    group=PROCESSES,
    meaning=(
        "gunicorn's sync workers: hashing a password is most of a registration, so one a core "
        "serves best."
    ),
    parse=values.positive(int),
    default=_cores,
    shown="the number of cores",
    checks="a whole number more than 0",
)
LOG_LEVEL = Variable(
    name="LOG_LEVEL",
    group=PROCESSES,
    meaning="The log level of both processes.",
    parse=level,
    default="INFO",
    checks=", ".join(f"`{name}`" for name in LEVELS) + " (any case)",
)
OUTPOST_DEMO_MAIL_DIR = Variable(
    name="OUTPOST_DEMO_MAIL_DIR",
    group=DEMO,
    meaning="The directory the demo's SMTP catcher writes to, which `/dev/mail` shows.",
    parse=lambda value: Path(value).resolve(),
    default="var/mail",
)
OUTPOST_DEMO_HOST = Variable(
    name="OUTPOST_DEMO_HOST",
    group=DEMO,
    meaning="The host the demo stack binds: its `/dev` pages answer only on a loopback host.",
    parse=str,
    default="127.0.0.1",
)
