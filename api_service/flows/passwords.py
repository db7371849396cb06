"""Password policy (NIST 800-63B style) and argon2id hashing."""

from __future__ import annotations

import contextvars
import gzip
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

import shared

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS = Path(shared.__file__).parent / "data" / "common-passwords.txt.gz"
COMMON_PASSWORD = "This password is too common; choose another."

T = TypeVar("T")
U = TypeVar("U")


def make_hasher() -> PasswordHasher:
    """argon2id with m=19 MiB, t=2, p=1: the OWASP minimum."""
    return PasswordHasher(
        time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    )


class Passwords:
    """argon2id hashing beside a request's statements, where the database allows it.

    argon2 releases the GIL, so while the calling thread hashes, another runs the request's
    statements against PostgreSQL: the answer waits for the longer of the two instead of both
    in turn. The hash stays on the calling thread so that neither its start nor its end waits
    for a thread to wake. With SQLite the hash comes first: there a transaction holds the
    database's only write lock from its start, and holding it through a hash would stall
    every other writer.
    """

    def __init__(self, beside_transaction: bool) -> None:
        self._hasher = make_hasher()
        # Read the list now, not in the first request that sets a password.
        _common_passwords()
        self._threads = (
            ThreadPoolExecutor(os.cpu_count(), thread_name_prefix="statements")
            if beside_transaction
            else None
        )

    @property
    def beside_transaction(self) -> bool:
        """Whether hashes run beside the request's statements (PostgreSQL), not before them."""
        return self._threads is not None

    def hash_beside(self, password: str, work: Callable[[], T]) -> tuple[str, T]:
        """The hash of `password` and the result of `work`, run at the same time if allowed.

        Whatever `work` raises is raised once the hash is done, so that an early answer costs
        the same time as any other; and `work` is always over on return, so the caller may use
        its connection again.
        """
        return self._beside(lambda: self._hasher.hash(password), work)

    def check_beside(self, password: str, stored: str, work: Callable[[], T]) -> tuple[bool, T]:
        """Whether `password` matches `stored`, and the result of `work`, as hash_beside: a
        check costs what a hash of today's parameters costs."""
        return self._beside(lambda: _matches(self._hasher, stored, password), work)

    def _beside(self, compute: Callable[[], U], work: Callable[[], T]) -> tuple[U, T]:
        if self._threads is None:
            computed = compute()
            return computed, work()
        # In the request's context: the trace a row it writes keeps (shared.runtime.tracing.kept).
        future = self._threads.submit(contextvars.copy_context().run, work)
        try:
            computed = compute()
        finally:
            wait([future])
        return computed, future.result()


def _matches(hasher: PasswordHasher, stored: str, password: str) -> bool:
    """Whether `password` matches the hash `stored`."""
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class Verifier:
    """Checks a password against a stored hash, or against a dummy one of the same cost when
    there is no account to check, so that both take the same time."""

    def __init__(self) -> None:
        self._hasher = make_hasher()
        self._dummy = self._hasher.hash("no account has this password")

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored` (None: no account, checked against the dummy)."""
        return _matches(self._hasher, stored or self._dummy, password) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether the hash was made with weaker parameters than today's."""
        return self._hasher.check_needs_rehash(stored)

    def hash(self, password: str) -> str:
        """A new hash of `password` with today's parameters."""
        return self._hasher.hash(password)


@cache
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problem(password: str) -> str | None:
    """Why a password is refused, or None; length only and a list of common ones, no rules."""
    if len(password) < MIN_LENGTH:
        return f"Must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Must be at most {MAX_LENGTH} characters."
    if password.lower() in _common_passwords():
        return COMMON_PASSWORD
    return None
