"""CHANGELOG.md stays true: every migration has its one-line note in an entry, releases come
newest first, and this tree builds as the release it names or a later `.devN` of it."""

from __future__ import annotations

import re
import subprocess
import sys

from describe_release import CHANGELOG, RELEASE, released
from support.processes import ROOT

# A migration's note: a list item that opens with its revision, `- \`0024\` (…): …`.
NOTE = re.compile(r"^- `(\d{4})` ", re.MULTILINE)


def entries() -> list[str]:
    """The changelog's entries, newest first: `## Unreleased`, then each release's."""
    return (ROOT / CHANGELOG).read_text().split("\n## ")[1:]


def test_every_migration_has_one_note_in_an_entry() -> None:
    migrations = sorted(p.name[:4] for p in (ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    noted = [revision for entry in entries() for revision in NOTE.findall(entry)]
    missing = sorted(set(migrations) - set(noted))
    assert not missing, f"{CHANGELOG} has no note for {missing}"
    assert sorted(noted) == migrations, "a note each, none for a migration that is not there"


def test_releases_come_newest_first_under_unreleased() -> None:
    headings = [entry.splitlines()[0] for entry in entries()]
    assert headings[0] == "Unreleased"
    versions = [RELEASE.fullmatch(f"## {heading}") for heading in headings[1:]]
    assert all(versions), f"a release heading reads `## X.Y.Z — YYYY-MM-DD`: {headings}"
    numbers = [tuple(int(n) for n in v[1].split(".")) for v in versions if v]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)


def test_this_tree_builds_as_the_release_it_names_or_a_later_dev() -> None:
    named = released((ROOT / CHANGELOG).read_text())
    done = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    major, minor, patch = named.split(".")
    later = rf"{major}\.{minor}\.{int(patch) + 1}\.dev\d+\+g[0-9a-f]+(\.d\d{{8}})?"
    assert re.fullmatch(rf"{re.escape(named)}(\+d\d{{8}})?|{later}", done.stdout.strip())
