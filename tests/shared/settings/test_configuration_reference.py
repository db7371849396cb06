"""Each variable is declared once (shared/settings/), every variable the code reads is declared
and read through its declaration, and docs/configuration.md is what `outpost settings` prints
from the declarations."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest

from outpost.cli import main
from shared.settings import foreign
from shared.settings.catalogue import SETTINGS, VARIABLES
from shared.settings.config import Settings
from shared.settings.reference import reference
from shared.settings.variable import MADE_OF, VARIABLE, Variable
from support.processes import ROOT

DOCUMENT = ROOT / "docs" / "configuration.md"
PRODUCTION = [
    path
    for top in ("api_service", "outbox_relay", "shared", "outpost")
    for path in sorted((ROOT / top).rglob("*.py"))
] + [ROOT / "migrations" / "env.py"]
# The settings wing: it alone may name a variable as text.
WING = {ROOT / "shared" / "settings"}
# PEP 3333's CGI keys of a request's WSGI environ, which is no process environment (and its
# HTTP_* request headers).
WSGI = {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME"}
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")


def _mapping(node: ast.expr) -> bool:
    """Whether `node` looks like an environment: `os.environ`, `environ`, `env`."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.endswith("environ") or name == "env"


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        wsgi = node.value in WSGI or node.value.startswith("HTTP_")
        if ENV_NAME.match(node.value) and not wsgi:
            return node.value
    return None


def named_variables(source: str) -> Iterator[tuple[int, str]]:
    """Each variable name written as text where an environment is read or written:
    `environ.get("X")`, `env["X"]`, `"X" in environ`, `os.getenv("X")`, `env.setdefault("X")`."""
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            calls_env = node.func.attr in ("get", "setdefault", "pop") and _mapping(node.func.value)
            if calls_env or node.func.attr in ("getenv", "putenv"):
                name = _literal(node.args[0])
        elif isinstance(node, ast.Subscript) and _mapping(node.value):
            name = _literal(node.slice)
        elif isinstance(node, ast.Compare) and any(_mapping(c) for c in node.comparators):
            name = _literal(node.left)
        if name is not None:
            yield node.lineno, name


def test_the_scan_finds_each_way_of_reading_a_variable() -> None:
    planted = (
        'os.environ.get("A_1"); env["B"] = 1; "C" in environ; os.getenv("D"); '
        'env.setdefault("E", ""); request.environ["PATH_INFO"]; other.get("F"); env.get("x")'
    )
    assert [name for _, name in named_variables(planted)] == ["A_1", "B", "C", "D", "E"]


def test_every_variable_the_code_reads_is_declared_and_read_through_its_declaration() -> None:
    declared = {variable.name for variable in VARIABLES}
    unknown, spelled = [], []
    for path in PRODUCTION:
        where = path.relative_to(ROOT)
        in_wing = any(path == w or w in path.parents for w in WING)
        for line, name in named_variables(path.read_text()):
            if name not in declared and not foreign.foreign(name):
                unknown.append(f"{where}:{line}: {name}")
            elif name in declared and not in_wing:
                spelled.append(f"{where}:{line}: {name}")
    assert unknown == [], "declare these in shared/settings/ (or foreign.py if others read them)"
    assert spelled == [], "read these through their declaration: X.read(environ), X.given(environ)"


def test_the_declarations_name_each_variable_once_and_none_that_others_read() -> None:
    names = [variable.name for variable in VARIABLES]
    assert len(names) == len(set(names))
    assert [name for name in names if foreign.foreign(name)] == []
    assert all(variable.meaning.endswith(".") for variable in VARIABLES)


def test_every_settings_field_names_the_variables_it_is_read_from() -> None:
    """A variable Settings parses is in a field's declaration, and a field is read from one."""
    named: list[Variable[Any]] = []
    unnamed = []
    for field in dataclasses.fields(Settings):
        if VARIABLE in field.metadata:
            named.append(field.metadata[VARIABLE])
        elif MADE_OF in field.metadata:
            named.extend(field.metadata[MADE_OF])
        else:
            unnamed.append(field.name)
    assert unnamed == ["locales"]  # what TEMPLATES_DIR adds, beside templates_dir
    assert sorted(v.name for v in SETTINGS) == sorted(v.name for v in named)


def test_docs_configuration_is_what_outpost_settings_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["settings"]) == 0
    printed = capsys.readouterr().out
    assert printed == reference()
    assert DOCUMENT.read_text(encoding="utf-8") == printed, (
        "docs/configuration.md is stale: `.venv/bin/outpost settings > docs/configuration.md`"
    )


def test_the_reference_lists_every_variable_with_its_default() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    for variable in VARIABLES:
        section = text.split(f"\n### `{variable.name}`\n", 1)[1].split("\n#", 1)[0]
        assert variable.meaning in section
        assert f"- default: {variable.default_text}" in section
    assert all(f"`{name}`" in text for name in foreign.NAMES)


def test_the_readme_links_the_reference_instead_of_a_table() -> None:
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/configuration.md)" in configuration and "| variable |" not in configuration


def test_every_link_of_the_reference_leads_to_a_file() -> None:
    for target in re.findall(r"\]\(([^)#\s]+)", reference()):
        assert (DOCUMENT.parent / target).exists(), target
