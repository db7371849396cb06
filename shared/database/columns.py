"""The column types the tables use: `Vocabulary` for the words of shared/vocabulary.py, aware
UTC datetimes, and ids."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, String, TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Vocabulary(TypeDecorator[str]):
    """A VARCHAR(`length`) of the words of the enums `words`: written as a member's value (a
    member or its text is taken), read as the member.

    A word none of `words` knows (a newer release's row, read by an older process during a
    rolling upgrade) reads as the plain text it is, never an error: a field typed with the enum
    then holds that text, which compares, hashes and prints as a member does, so what reads it
    treats it as it treated every word before the words were typed.
    """

    impl = String
    cache_ok = True

    def __init__(self, words: tuple[type[StrEnum], ...], length: int) -> None:
        super().__init__(length)
        # Named as the arguments, which SQLAlchemy's cache key reads back.
        self.words = words
        self.length = length
        self._members: dict[str, StrEnum] = {}
        for enum in words:
            for member in enum:
                if member.value in self._members:
                    raise ValueError(f"{member.value!r} is a word of two of {words}")
                self._members[member.value] = member

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.value if isinstance(value, Enum) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self._members.get(value, value)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL and on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
