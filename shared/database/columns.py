"""`Vocabulary`, the column type that stores the words of shared/vocabulary.py."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Dialect, String, TypeDecorator


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
