"""The configuration reference in Markdown, made from the declarations: what `outpost settings`
prints, and docs/configuration.md holds."""

from __future__ import annotations

import re
from typing import Any

from shared.settings import foreign
from shared.settings.catalogue import GROUPS, VARIABLES
from shared.settings.variable import Group, Variable

INTRODUCTION = """\
# Configuration

Every environment variable Outpost reads, by what it configures: its meaning, its default and
what a value must be. A bad value stops the process that reads it at start with one line naming
the variable; it never half-starts. Every command (`outpost …`, `outbox-relay …`) takes
`--env-file FILE` in systemd's `EnvironmentFile=` syntax, the units' environment, and warns on
stderr about each name in it that no setting reads, naming the closest one.

This page is the output of `outpost settings`, made from the one place each variable is
declared (`shared/settings/`); `tests/shared/settings/test_configuration_reference.py` keeps the two
equal (`outpost settings > docs/configuration.md` after changing a declaration)."""

FOREIGN = (
    "Read by the system and the libraries Outpost runs on",
    "An env file may set these; no warning says they are not Outpost's.",
)


def reference() -> str:
    """The whole reference: the index, then each group's variables, then the names others read."""
    lines = [INTRODUCTION, ""]
    for group in GROUPS:
        names = ", ".join(f"[`{v.name}`](#{_anchor(v.name)})" for v in _of(group))
        lines.append(f"- [{group.title}](#{_anchor(group.title)}): {names}")
    lines.append(f"- [{FOREIGN[0]}](#{_anchor(FOREIGN[0])})")
    for group in GROUPS:
        lines += ["", f"## {group.title}", "", group.about]
        for variable in _of(group):
            lines += ["", *_described(variable)]
    lines += ["", f"## {FOREIGN[0]}", "", FOREIGN[1], ""]
    lines += [f"- `{name}`: {reader}" for name, reader in foreign.NAMES.items()]
    lines += [f"- `{prefix}*`: {reader}" for prefix, reader in foreign.PREFIXES.items()]
    return "\n".join(lines) + "\n"


def _described(variable: Variable[Any]) -> list[str]:
    """One variable's section: its heading, meaning, default and checks."""
    lines = [f"### `{variable.name}`", "", variable.meaning, ""]
    lines.append(f"- default: {variable.default_text}")
    if variable.checks:
        lines.append(f"- checked: {variable.checks}")
    return lines


def _of(group: Group) -> list[Variable[Any]]:
    return [variable for variable in VARIABLES if variable.group == group]


def _anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces as `-`."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
