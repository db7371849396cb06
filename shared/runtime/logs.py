"""Log setup shared by both processes: one JSON object a line, on stderr."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shared.settings.processes import LOG_LEVEL

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Built once: json.dumps(..., default=str) builds an encoder for every line.
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message and the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """JSON lines on stderr, each written as it comes but those of a `together` block."""

    def emit(self, record: logging.LogRecord) -> None:
        held: dict[JsonLines, list[str]] | None = getattr(_held, "lines", None)
        if held is None:
            super().emit(record)
            return
        try:
            held.setdefault(self, []).append(self.format(record))
        except Exception:
            self.handleError(record)

    def write(self, lines: list[str]) -> None:
        """Write `lines` at once, each ended; a failing stream is handled as `emit` handles it,
        never raised to the block's owner."""
        self.acquire()
        try:
            self.stream.write("".join(line + self.terminator for line in lines))
            self.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": f"{len(lines)} lines held together"}))
        finally:
            self.release()


# A URL in a line, up to the space, quote or bracket that ends it.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
# The loggers of libraries that write a whole URL they were given: httpx's line of each request.
_URL_WRITERS = ("httpx",)


def bare_url(url: str) -> str:
    """`url` without its credentials, query string and fragment, where a provider's token may be
    (`SMS_URL`'s or `WEBHOOK_URL`'s `?token=…`, `https://key:secret@host`)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class BareUrls(logging.Filter):
    """Writes each URL of a line as `bare_url` does (SPEC: "a provider or webhook URL is logged
    without its query string and credentials, whichever library writes the line")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        bare = _URL.sub(lambda found: bare_url(found[0]), message)
        if bare != message:
            record.msg, record.args = bare, ()
        return True


_BARE_URLS = BareUrls()


# The lines this thread's `together` block holds, by the handler they are for; None outside one.
_held = threading.local()


@contextmanager
def together() -> Iterator[None]:
    """Write the lines this thread logs in the block at its end, in one write to each handler:
    the relay logs a line for every outcome of a batch, and every write lets go of the
    interpreter's lock, which a sender then waits to take back."""
    if getattr(_held, "lines", None) is not None:
        yield
        return
    _held.lines = {}
    try:
        yield
    finally:
        held: dict[JsonLines, list[str]] = _held.lines
        _held.lines = None
        for handler, lines in held.items():
            handler.write(lines)


def timestamp(created: float) -> str:
    """`created` (seconds since the epoch) as datetime.isoformat writes it in UTC to the
    millisecond, the part to the second written once a second: a relay logs each message."""
    second = int(created)
    micro = round((created - second) * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    return f"{_to_the_second(second)}.{micro // 1000:03d}+00:00"


@lru_cache(maxsize=1)
def _to_the_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def configure_logging() -> None:
    """Send INFO and above to stderr as JSON lines, unless the host already configured logging.

    Raises ConfigError naming LOG_LEVEL when it is not a level's name.
    """
    level = LOG_LEVEL.read(os.environ)
    # The scheduler logs every job run at INFO; only its problems matter here.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # alembic names at INFO each plugin it sets up as it loads, which is after this
    # (shared.database.db loads it on first reading the schema's revision): nothing a process has to
    # say.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # On the logger that writes the line, so it holds whoever handles it.
    for name in _URL_WRITERS:
        logging.getLogger(name).addFilter(_BARE_URLS)
    root = logging.getLogger()
    if root.handlers:
        return
    # What a record would look up for fields a JSON line never carries (the caller's file and
    # line, its thread), skipped as logging's HOWTO ("Optimization") says: an eighth of a
    # relay's line, which it writes for every message. The process id stays: gunicorn logs it.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    handler = JsonLines()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
