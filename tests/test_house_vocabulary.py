"""The house's vocabularies, asked as types: a field or a parameter that holds a status, a
channel, a purpose or another word of a vocabulary is typed with its enum, never `str`, and a
column of words stores them through `Vocabulary` (shared/database/columns.py). The words spelled
bare: tests/test_house.py."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Callable, Iterator
from enum import Enum
from types import ModuleType

import api_service
import outbox_relay
import outpost
import shared
from shared.database.columns import Vocabulary
from shared.database.models import metadata
from shared.vocabulary import Purpose

# The fields that hold a word of a vocabulary, by name, wherever they stand.
WORDS = {"channel", "purpose", "status", "dead_reason", "refusal", "resolution", "outcome", "type"}
# Parameters that hold a word under another name: the channel a client asked for, the purpose a
# code answers as.
PARAMETER_WORDS = WORDS | {"asked_channel", "answers_as"}
# Read at import by gunicorn alone, which exits without its settings.
NOT_IMPORTED = {"outpost.gunicorn_conf"}
# The columns of words: those named as the fields are, but for `attempt_hours.outcome`, a
# tally's kind (an outcome, or `retried`: shared/operations/tallies.py).
TALLY_KINDS = {"attempt_hours.outcome"}


def _modules(*packages: ModuleType) -> Iterator[ModuleType]:
    for package in packages:
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if found.name not in NOT_IMPORTED:
                yield importlib.import_module(found.name)


def _dataclasses() -> Iterator[type]:
    """Every dataclass defined in shared/ and outbox_relay/."""
    for module in _modules(shared, outbox_relay):
        for value in vars(module).values():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if isinstance(value, type) and dataclasses.is_dataclass(value) and defined_here:
                yield value


def _functions() -> Iterator[Callable[..., object]]:
    """Every function and method defined in production's packages."""
    for module in _modules(shared, outbox_relay, api_service, outpost):
        owners: list[object] = [module]
        while owners:
            owner = owners.pop()
            for value in vars(owner).values():
                if getattr(value, "__module__", None) != module.__name__:
                    continue
                if inspect.isfunction(value):
                    yield value
                elif inspect.isclass(value) and owner is module:
                    owners.append(value)


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


def untyped_parameters(functions: list[Callable[..., object]]) -> list[str]:
    """Each parameter named for a word whose annotation, as written, allows `str`."""
    found = []
    for function in functions:
        for name, annotation in function.__annotations__.items():
            arms = {arm.strip() for arm in str(annotation).split("|")}
            if name in PARAMETER_WORDS and "str" in arms:
                found.append(f"{function.__module__}.{function.__qualname__}({name}: {annotation})")
    return found


def test_the_parameters_that_take_a_word_are_typed_with_its_enum() -> None:
    functions = list(_functions())
    assert untyped_parameters(functions) == [], "a word typed as text: type it with its enum"
    named = {f"{f.__module__}.{f.__qualname__}" for f in functions}
    assert {"shared.messaging.outbox.enqueue", "shared.messaging.messages.send_code"} <= named


def test_the_check_finds_a_parameter_typed_as_text() -> None:
    def queue(channel: str, *, asked_channel: str | None, purpose: Purpose, status: int) -> None:
        """A function as a careless change would write it."""

    assert untyped_parameters([queue]) == [
        f"{__name__}.{queue.__qualname__}(channel: str)",
        f"{__name__}.{queue.__qualname__}(asked_channel: str | None)",
    ]


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
