"""Jinja's sandbox as Outpost renders every operator's template in it (messages, the SMS
gateway's request): a template reaches the values it is given, never Python's objects behind
them."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, which also refuses to load a template naming a private attribute.

    The sandbox alone stops such an access when it runs, and only if it runs: in a branch the
    sample values of `outpost templates check` do not take, it would pass the check.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one dict, copied when it loads, where Jinja chains them to
        the environment's: each render copies them into its context, which from a ChainMap
        took a tenth of a message's render. Outpost sets an environment's globals before it
        loads a template, and never after."""
        return {**self.globals, **(d or {})}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse as Jinja does (for `compile`), refusing `x._y`, `x.__y__` and `x["_y"]`."""
        tree = super()._parse(source, name, filename)
        for key, lineno in _keys(tree):
            if key.startswith("_"):
                raise jinja2.TemplateSyntaxError(
                    f"unsafe: attribute {key!r} is not available to templates",
                    lineno,
                    name,
                    filename,
                )
        return tree


def _keys(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    """Every attribute a template names (`x.y`, `x["y"]`) with its line."""
    for getattr_ in tree.find_all(nodes.Getattr):
        yield getattr_.attr, getattr_.lineno
    for getitem in tree.find_all(nodes.Getitem):
        if isinstance(getitem.arg, nodes.Const) and isinstance(getitem.arg.value, str):
            yield getitem.arg.value, getitem.lineno
