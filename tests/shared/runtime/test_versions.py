"""Versions written in the tree (setuptools-scm and describe_release.py): the commit that adds
CHANGELOG.md's heading `## X.Y.Z — date` builds as `X.Y.Z`, one N commits later as
`X.Y.(Z+1).devN+gHASH`, whatever tags a clone has or lacks, so `pip install --upgrade` of a later
wheel replaces the code; both commands print the version installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from describe_release import CHANGELOG, released
from support import wheels
from support.processes import ROOT

COMMANDS = ("outpost", "outbox-relay")
# Who commits in the test's repository, whatever git's configuration on this machine says.
IDENTITY = ("-c", "user.name=Outpost tests", "-c", "user.email=tests@outpost.test")
UNSIGNED = ("-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false")
NEXT_COMMIT = "# A change of the next commit.\n"
# A release after whatever CHANGELOG.md names, as its release commit writes it.
LATER = "9.9.0"
UNRELEASED = "## Unreleased\n"


def said(command: Path) -> str:
    """What `command --version` printed, once it exited 0."""
    done = subprocess.run(
        [command, "--version"], capture_output=True, text=True, timeout=wheels.SLOW, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def commit(repository: Path, message: str) -> None:
    """Commit everything in `repository`."""
    wheels.git(repository, "add", "--all")
    wheels.git(repository, *IDENTITY, *UNSIGNED, "commit", "--quiet", "--message", message)


def checkout_as_a_repository(target: Path) -> Path:
    """This checkout's files as they are now (committed or not, less what git ignores), the
    first commit of a new repository at `target`."""
    listed = wheels.git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    wheels.git(target, "init", "--quiet")
    commit(target, "This checkout")
    return target


def test_both_commands_print_the_version_installed(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    for command in COMMANDS:
        assert said(bin_dir / command) == f"{command} {wheels.installed(bin_dir, tmp_path)}\n"


def scm_version(tree: Path) -> str:
    """The version setuptools-scm gives the tree, as a build of it would be."""
    done = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=wheels.SLOW,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def next_dev(version: str, distance: int, tree: Path) -> str:
    """`X.Y.(Z+1).devN+gHASH`: a build `distance` commits after the release `version`."""
    major, minor, patch = version.split(".")
    node = wheels.git(tree, "rev-parse", "--short", "HEAD")
    return f"{major}.{minor}.{int(patch) + 1}.dev{distance}+g{node}"


def branch_alone(repository: Path, target: Path) -> Path:
    """A clone of the repository's branch alone, without its tags, as a deployer makes it."""
    wheels.git(
        repository.parent, "clone", "--quiet", "--single-branch", "--no-tags",
        str(repository), str(target),
    )  # fmt: skip
    assert not wheels.git(target, "tag", "--list")
    return target


def release(repository: Path, version: str) -> None:
    """The release commit: a heading for `version` under CHANGELOG.md's Unreleased."""
    changelog = repository / CHANGELOG
    text = changelog.read_text()
    assert UNRELEASED in text
    changelog.write_text(text.replace(UNRELEASED, f"{UNRELEASED}\n## {version} — 2026-12-01\n", 1))
    commit(repository, f"Outpost {version}")


@pytest.mark.timeout(4 * wheels.SLOW)
def test_the_changelog_names_the_build_and_the_next_commits_wheel_upgrades_it(
    tmp_path: Path,
) -> None:
    repository = checkout_as_a_repository(tmp_path / "repository")
    named = released((repository / CHANGELOG).read_text())
    # The commit that adds the release's heading (here, the repository's first) is the release.
    released_wheel = wheels.build(repository, tmp_path / "dist")
    assert released_wheel.name == f"outpost-{named}-py3-none-any.whl"
    changed = repository / "shared" / "runtime" / "version.py"
    changed.write_text(changed.read_text() + NEXT_COMMIT)
    commit(repository, "The next commit")
    clone = branch_alone(repository, tmp_path / "clone")
    later = wheels.build(clone, tmp_path / "dist")
    expected = next_dev(named, 1, clone)
    assert later.name == f"outpost-{expected}-py3-none-any.whl"

    bin_dir = wheels.virtualenv(tmp_path / "venv")
    for wheel, version in ((released_wheel, named), (later, expected)):
        wheels.install(bin_dir, wheel)
        for command in COMMANDS:
            assert said(bin_dir / command) == f"{command} {version}\n"
        where = subprocess.run(
            [bin_dir / "python", "-c", "import shared.runtime.version as v; print(v.__file__)"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=wheels.SLOW,
            check=True,
        ).stdout.strip()
        assert where.startswith(str(tmp_path / "venv")), where
        assert (NEXT_COMMIT in Path(where).read_text()) is (wheel == later)


def test_a_release_commit_names_the_version_and_the_count_starts_again_from_it(
    tmp_path: Path,
) -> None:
    repository = checkout_as_a_repository(tmp_path / "repository")
    release(repository, LATER)
    # The developer's tree has tags, a clone of the branch alone none: they name nothing.
    wheels.git(repository, *UNSIGNED, "tag", "--annotate", "v7.7.7", "--message", "Not this")
    assert scm_version(repository) == scm_version(branch_alone(repository, tmp_path / "released"))
    assert scm_version(repository) == LATER
    # A later edit of the heading (its date) is not a release: the count goes on from the one
    # that added it.
    changelog = repository / CHANGELOG
    changelog.write_text(
        changelog.read_text().replace(f"## {LATER} — 2026-12-01", f"## {LATER} — 2026-12-02")
    )
    commit(repository, "The release's date corrected")
    clone = branch_alone(repository, tmp_path / "later")
    assert scm_version(clone) == scm_version(repository) == next_dev(LATER, 1, clone)


def test_a_shallow_clone_builds_no_version_it_cannot_count(tmp_path: Path) -> None:
    repository = checkout_as_a_repository(tmp_path / "repository")
    release(repository, LATER)
    commit_file = repository / "shared" / "runtime" / "version.py"
    commit_file.write_text(commit_file.read_text() + NEXT_COMMIT)
    commit(repository, "The next commit")
    shallow = tmp_path / "shallow"
    wheels.git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repository}", str(shallow))
    # Its one commit shows every line as added: taken for the release, it would claim 9.9.0.
    assert "+unknown" in scm_version(shallow)
