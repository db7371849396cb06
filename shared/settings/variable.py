"""One environment variable, declared once: its name, what it means, its default, the parser
that reads and checks it, and the group the reference lists it in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

Environ = Mapping[str, str]
# The keys under which a Settings field names the variable it is read from, or those it is
# made of (Branding, the SMS request format).
VARIABLE = "variable"
MADE_OF = "made_of"


class ConfigError(ValueError):
    """A configuration variable has a bad value; the message names it."""


@dataclass(frozen=True)
class Group:
    """A heading of the reference: the variables that configure one thing."""

    title: str
    about: str


@dataclass(frozen=True)
class InContext(Generic[T]):
    """A parser made from the whole environment, for a value read in the light of others
    (SMS_ALLOWED_REGIONS by PHONE_DEFAULT_REGION and the SMS providers, for one)."""

    make: Callable[[Environ], Callable[[str], T]]


@dataclass(frozen=True, kw_only=True)
class Variable(Generic[T]):
    """An environment variable: what it means, its default, how it is read and checked.

    `parse` raises ValueError (or TypeError) saying what is wanted; reading names the variable
    in front of it, as ConfigError.
    """

    name: str
    group: Group
    meaning: str
    parse: Callable[[str], T] | InContext[T]
    # What is parsed when the variable is unset or empty: a text, or one made of other variables.
    default: str | Callable[[Environ], str] = ""
    # The default as the reference states it, when `default` alone would not say it.
    shown: str = ""
    # What a value must be, in words: the rules `parse` enforces.
    checks: str = ""

    def given(self, environ: Environ) -> bool:
        """Whether the environment sets this variable to something (empty is unset)."""
        return bool(environ.get(self.name))

    def raw(self, environ: Environ) -> str:
        """The text read: the environment's, else the default."""
        value = environ.get(self.name)
        if value:
            return value
        return self.default(environ) if callable(self.default) else self.default

    def read(self, environ: Environ) -> T:
        """The value, parsed and checked; ConfigError naming this variable."""
        parse = self.parse.make(environ) if isinstance(self.parse, InContext) else self.parse
        return self.named(parse, self.raw(environ))

    def named(self, parse: Callable[[A], B], value: A) -> B:
        """`parse(value)`, any ValueError or TypeError a ConfigError naming this variable."""
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.name}: {exc}") from None

    @property
    def default_text(self) -> str:
        """The default in the reference's words: `shown`, the text itself, or unset."""
        if self.shown:
            return self.shown
        if isinstance(self.default, str) and self.default:
            return f"`{self.default}`"
        return "unset"


def setting(variable: Variable[T], *, repr: bool = True) -> T:
    """A Settings field read from `variable`: mypy holds the field's type to the variable's."""
    return cast(T, dataclasses.field(repr=repr, metadata={VARIABLE: variable}))


def made_of(*variables: Variable[Any]) -> Any:
    """A Settings field built from several variables by Settings.from_env itself."""
    return dataclasses.field(metadata={MADE_OF: variables})


class Parsed:
    """Each variable of an environment parsed once, in the order declared; `parsed[X]` has X's
    type."""

    def __init__(self, variables: Iterable[Variable[Any]], environ: Environ) -> None:
        self._values = {variable.name: variable.read(environ) for variable in variables}

    def __getitem__(self, variable: Variable[T]) -> T:
        return cast(T, self._values[variable.name])

    def fields(self, cls: type) -> dict[str, Any]:
        """The fields of the dataclass `cls` that name a variable (`setting`), by field name."""
        return {
            field.name: self[field.metadata[VARIABLE]]
            for field in dataclasses.fields(cls)
            if VARIABLE in field.metadata
        }


def optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """`parse`, or None for an unset variable."""

    def read(value: str) -> T | None:
        return parse(value) if value else None

    return read


def text(value: str) -> str | None:
    """The text as given, None when unset."""
    return value or None
