"""Jinja's sandbox as Outpost renders every operator's template in it (messages, the SMS
gateway's request): a template reaches the values it is given, never Python's objects behind
them."""

from __future__ import annotations

from collections.abc import Iterator

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, which also refuses to load a template naming a private attribute.

    The sandbox alone stops such an access when it runs, and only if it runs: in a branch the
    sample values of `outpost templates check` do not take, it would pass the check.
    """

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
