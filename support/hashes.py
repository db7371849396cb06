"""Watching the application's password hashes from a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import event

from api_service.flows.passwords import make_hasher


def quick_hasher() -> PasswordHasher:
    """argon2id as the application's hasher, at the lowest cost argon2 allows (one pass over
    8 KiB): for tests about anything but the hash's cost, which at the OWASP minimum took 24 ms
    of CPU a hash, about 3,000 hashes a run."""
    real = make_hasher()
    return PasswordHasher(
        time_cost=1,
        memory_cost=8,
        parallelism=1,
        hash_len=real.hash_len,
        salt_len=real.salt_len,
        type=real.type,
    )


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
        return str(self._timed(lambda: self._hasher.hash(password)))

    def verify(self, stored: str, password: str) -> bool:
        """A check against a pending account's hash, which takes a hash's place."""
        return bool(self._timed(lambda: self._hasher.verify(stored, password)))

    def _timed(self, argon2: Callable[[], object]) -> object:
        started = time.perf_counter()
        try:
            if self._meanwhile is not None:
                self._meanwhile()
            return argon2()
        finally:
            self.spans.append((started, time.perf_counter()))


def statement_times(
    app: Flask, *, skip_begin: bool = False, thread: int | None = None
) -> list[float]:
    """A list that the app's engine fills with the moment each statement starts (with
    `skip_begin`, but SQLite's BEGIN, which only PostgreSQL sends with the first statement;
    with `thread`, only those run on that thread)."""
    times: list[float] = []

    def note(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if skip_begin and statement.startswith("BEGIN"):
            return
        if thread is None or threading.get_ident() == thread:
            times.append(time.perf_counter())

    event.listen(app.extensions["outpost"].engine, "before_cursor_execute", note)
    return times
