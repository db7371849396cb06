"""Password policy (NIST 800-63B style) and argon2id hashing."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.low_level import Type

import shared

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS = Path(shared.__file__).parent / "data" / "common-passwords.txt.gz"
COMMON_PASSWORD = "This password is too common; choose another."


def make_hasher() -> PasswordHasher:
    """argon2id with m=19 MiB, t=2, p=1: the OWASP minimum."""
    return PasswordHasher(
        time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    )


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
