"""The README stays true: CI runs its test command word for word."""

from __future__ import annotations

import re

from support.processes import ROOT


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    [tests] = [b for b in blocks if b.startswith("# Run the tests")]
    command = tests.splitlines()[1].strip()
    assert command.endswith(".venv/bin/pytest")
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_runs_the_stack_with_outpost_up() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "&& .venv/bin/outpost up\n" in readme


def test_every_link_of_the_docs_stays_inside_the_repository() -> None:
    """A reader of a clone follows them all: relative links name files of the repository."""
    root = ROOT.resolve()
    for document in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", document.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            linked = (document.parent / target).resolve()
            assert linked.is_relative_to(root) and linked.exists(), f"{document.name}: {target}"


def test_the_layout_names_every_package() -> None:
    """A newcomer finds each package in the README's Layout table."""
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w/]+/)`", layout))
    packages = {
        f"{path.parent.relative_to(ROOT).as_posix()}/"
        for top in ("api_service", "outbox_relay", "shared", "outpost")
        for path in (ROOT / top).rglob("__init__.py")
    }
    assert packages <= named, sorted(packages - named)
    assert {"migrations/", "support/", "tests/", "bench/", "docs/", "deploy/"} <= named


def test_the_readme_stays_short() -> None:
    """Details live in docs/ and bench/README.md; the README stays a page a newcomer reads."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_both_indexes_of_the_decisions_name_every_decision() -> None:
    """docs/decisions/README.md and bench/README.md, the benches' way in, list every ADR."""
    decisions = ROOT / "docs" / "decisions"
    files = {path.name for path in decisions.glob("[0-9][0-9][0-9][0-9]-*.md")}
    for index in (decisions / "README.md", ROOT / "bench" / "README.md"):
        entries = r"^[-|] \[\d{4}\]\(\S*?(\d{4}-[a-z0-9-]+\.md)\)"  # `- [0001](…)`, `| [0001](…)`
        listed = set(re.findall(entries, index.read_text(), re.MULTILINE))
        assert files <= listed, (index, sorted(files - listed))
