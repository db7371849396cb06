"""Watching the application's password hashes from a test."""

from __future__ import annotations

import time

from flask import Flask


class TimedHasher:
    """The application's own hasher, noting when each hash starts and ends."""

    def __init__(self, app: Flask) -> None:
        passwords = app.extensions["outpost"].passwords
        self._hasher = passwords._hasher
        self.spans: list[tuple[float, float]] = []
        passwords._hasher = self

    def hash(self, password: str) -> str:
        started = time.perf_counter()
        try:
            return str(self._hasher.hash(password))
        finally:
            self.spans.append((started, time.perf_counter()))
