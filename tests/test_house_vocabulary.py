"""The house's vocabularies, asked as types: a field that holds a status, a channel, a purpose or
another word of a vocabulary is typed with its enum, never `str`, and a column of words stores
them through `Vocabulary` (shared/vocabulary.py). The words spelled bare: tests/test_house.py."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from collections.abc import Iterator
from enum import Enum

import outbox_relay
import shared
from shared.models import metadata
from shared.vocabulary import Vocabulary

# The fields that hold a word of a vocabulary, by name, wherever they stand.
WORDS = {"channel", "purpose", "status", "dead_reason", "refusal", "resolution", "outcome", "type"}
# The columns of words: those named as the fields are, but for `attempt_hours.outcome`, a
# tally's kind (an outcome, or `retried`: shared/operations/tallies.py).
TALLY_KINDS = {"attempt_hours.outcome"}


def _dataclasses() -> Iterator[type]:
    """Every dataclass defined in shared/ and outbox_relay/."""
    for package in (shared, outbox_relay):
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(found.name)
            for value in vars(module).values():
                defined_here = getattr(value, "__module__", None) == module.__name__
                if isinstance(value, type) and dataclasses.is_dataclass(value) and defined_here:
                    yield value


def _arms(annotation: object) -> set[object]:
    """The types an annotation allows, None aside: `Channel | None` is {Channel}."""
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    arms = set(typing.get_args(annotation)) if is_union else {annotation}
    return arms - {type(None)}


def untyped_words(classes: list[type]) -> list[str]:
    """Each field of `classes` named for a word whose annotation allows text that is no enum."""
    found = []
    for cls in classes:
        named = [field.name for field in dataclasses.fields(cls) if field.name in WORDS]
        # Only where a word is named: some dataclasses annotate with names they import for
        # type checking alone, which no module holds at run time.
        hints = typing.get_type_hints(cls) if named else {}
        for name in named:
            text = [
                arm
                for arm in _arms(hints[name])
                if not (
                    isinstance(arm, type) and (issubclass(arm, Enum) or not issubclass(arm, str))
                )
            ]
            if text:
                found.append(f"{cls.__module__}.{cls.__qualname__}.{name}: {hints[name]}")
    return found


def test_the_fields_that_hold_a_word_are_typed_with_its_enum() -> None:
    classes = list(_dataclasses())
    assert untyped_words(classes) == [], "a word typed as text: type it with its enum"
    checked = {
        f"{cls.__qualname__}.{field.name}" for cls in classes for field in dataclasses.fields(cls)
    }
    assert {"Claimed.channel", "User.status", "MessageDetail.resolution"} <= checked


def test_the_check_finds_a_word_typed_as_text() -> None:
    @dataclasses.dataclass(frozen=True)
    class Row:
        channel: str
        status: int
        dead_reason: str | None = None

    assert untyped_words([Row]) == [
        f"{__name__}.{Row.__qualname__}.channel: <class 'str'>",
        f"{__name__}.{Row.__qualname__}.dead_reason: str | None",
    ]


def test_every_column_of_words_stores_them_through_vocabulary() -> None:
    columns = {
        f"{table.name}.{column.name}": column.type
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name in WORDS or column.name == "reason"
    }
    untyped = sorted(
        name
        for name, kind in columns.items()
        if not isinstance(kind, Vocabulary) and name not in TALLY_KINDS
    )
    assert untyped == [], "a column of words without its Vocabulary"
    assert len(columns) > 10, "the check finds the columns of words"
