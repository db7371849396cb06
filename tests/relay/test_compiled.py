"""The templates' compiled code kept for the process: compiled once, and a changed file is
parsed again, so the sandbox still refuses what it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbox_relay import render
from outbox_relay.compiled import CompiledTemplates
from outbox_relay.render import Templates
from shared.messaging.sandbox import Sandbox


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the templates parsed from here on, with a cache of their own."""
    monkeypatch.setattr(render, "COMPILED", CompiledTemplates())
    names: list[str] = []
    parse = Sandbox._parse

    def noting(self: Sandbox, source: str, name: str | None, filename: str | None) -> object:
        names.append(str(name))
        return parse(self, source, name, filename)

    monkeypatch.setattr(Sandbox, "_parse", noting)
    return names


def test_the_templates_built_again_are_compiled_only_once(parsed: list[str]) -> None:
    assert Templates().problems() == []
    assert set(Templates().names()) < set(parsed), "and the layout they extend"
    parsed.clear()
    assert Templates().problems() == []
    assert parsed == []


def test_a_file_changed_since_it_was_compiled_is_parsed_again_and_refused(
    parsed: list[str], tmp_path: Path
) -> None:
    body = tmp_path / "welcome" / "en" / "body.txt"
    body.parent.mkdir(parents=True)
    body.write_text("Welcome, {{ full_name }}.\n")
    assert Templates(None, tmp_path, isolated=False).problems() == []
    body.write_text("Welcome, {{ full_name.__class__ }}.\n")
    parsed.clear()
    [problem] = Templates(None, tmp_path, isolated=False).problems()
    assert problem.startswith(f"{body}:1: unsafe: attribute '__class__'"), problem
    assert parsed == ["welcome/en/body.txt"]
