"""werkzeug's URL builders compiled once a rule rather than once an application.

werkzeug compiles two builder functions for each rule an application adds (`Rule.compile`, a
Python `compile()` of a generated AST each), and the tests build an application each, about
2,000 a run: the builders were a third of `create_app`'s CPU. A builder depends only on the
rule's text, its parts and its defaults' names, so one compiled for a rule serves the same rule
of every later application (docs/decisions/0046). A rule with a default for one of its own
variables has that default compiled in, and is compiled as werkzeug does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

Builder = Callable[..., tuple[str, str]]

# werkzeug's own compilation, whatever `remember` puts in its place.
compile_builder: Callable[[Rule, bool], Builder] = Rule._compile_builder


def remember() -> None:
    """Have every later `Rule.compile` take a builder already compiled for the same rule."""
    built: dict[tuple[Any, ...], Builder] = {}

    def remembered(rule: Rule, append_unknown: bool = True) -> Builder:
        defaults = rule.defaults or {}
        if any(dynamic and part in defaults for dynamic, part in rule._trace):
            return compile_builder(rule, append_unknown)
        key = (append_unknown, rule.rule, tuple(rule._trace), tuple(defaults))
        if key not in built:
            built[key] = compile_builder(rule, append_unknown)
        return built[key]

    Rule._compile_builder = remembered  # type: ignore[method-assign, assignment]
