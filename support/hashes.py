"""Watching the application's password hashes from a test."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import event


class TimedHasher:
    """The application's own hasher, noting when each hash starts and ends; `meanwhile`, if
    given, runs as each hash starts, on the hashing thread."""

    def __init__(self, app: Flask, meanwhile: Callable[[], None] | None = None) -> None:
        passwords = app.extensions["outpost"].passwords
        self._hasher = passwords._hasher
        self._meanwhile = meanwhile
        self.spans: list[tuple[float, float]] = []
        passwords._hasher = self

    def hash(self, password: str) -> str:
        started = time.perf_counter()
        try:
            if self._meanwhile is not None:
                self._meanwhile()
            return str(self._hasher.hash(password))
        finally:
            self.spans.append((started, time.perf_counter()))


def statement_times(app: Flask) -> list[float]:
    """A list that the app's engine fills with the moment each statement starts."""
    times: list[float] = []
    event.listen(
        app.extensions["outpost"].engine,
        "before_cursor_execute",
        lambda *_: times.append(time.perf_counter()),
    )
    return times
