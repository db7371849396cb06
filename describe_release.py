"""`git describe` from the tree for setuptools-scm: the release is CHANGELOG.md's newest
`## X.Y.Z — date` heading, and the distance is counted from the commit that added it.

Tags do not travel with a branch (a clone of the branch alone has none), so a version read from
them differs between clones; the heading does, with the commit (docs/operations.md#releases).
Prints `X.Y.Z-N-gHASH[-dirty]`, as `git describe --long --dirty` does, for setuptools-scm to
read (pyproject.toml, `[tool.setuptools_scm.scm.git]`); run from the repository's root.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CHANGELOG = Path("CHANGELOG.md")
# A release's heading: `## 0.1.0 — 2026-11-28`. Entries without a version (`## Unreleased`)
# are not releases.
RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}$", re.MULTILINE)


class NoRelease(Exception):
    """The tree names no release, or its history does not hold the commit that did."""


def git(*args: str) -> str:
    """A git command's output, stripped; NoRelease with its error if it fails."""
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NoRelease(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def released(changelog: str) -> str:
    """The newest release's version: the first release heading of the changelog."""
    found = RELEASE.search(changelog)
    if found is None:
        raise NoRelease(f"{CHANGELOG} has no release heading (`## X.Y.Z — YYYY-MM-DD`)")
    return found[1]


def describe() -> str:
    """`X.Y.Z-N-gHASH`, `-dirty` appended when a tracked file has changed."""
    version = released(CHANGELOG.read_text(encoding="utf-8"))
    if git("rev-parse", "--is-shallow-repository") == "true":
        # The commit that added the heading may be past the clone's horizon, and the oldest
        # commit of a shallow clone shows every line as added: the count would be wrong.
        raise NoRelease("a shallow clone cannot count from the release: git fetch --unshallow")
    # The commit that changed how often the heading occurs: the one that added it (-S, not -G,
    # so that a later edit of its date is not taken for the release).
    added = git("log", "-1", "--format=%H", "-S", f"## {version} — ", "--", str(CHANGELOG))
    if not added:
        raise NoRelease(f"no commit of this history adds {version}'s heading to {CHANGELOG}")
    distance = git("rev-list", "--count", f"{added}..HEAD")
    node = git("rev-parse", "--short", "HEAD")
    dirty = "-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{version}-{distance}-g{node}{dirty}"


def main() -> int:
    try:
        print(describe())
    except NoRelease as error:
        print(f"describe_release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
