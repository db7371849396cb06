"""Versions from git (setuptools-scm): a build on the tag `vX.Y.Z` is `X.Y.Z`, one N commits
later `X.Y.(Z+1).devN+gHASH`, so `pip install --upgrade` of a later wheel replaces the code; both
commands print the version installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from support import wheels
from support.processes import ROOT

COMMANDS = ("outpost", "outbox-relay")
# Who commits in the test's repository, whatever git's configuration on this machine says.
IDENTITY = ("-c", "user.name=Outpost tests", "-c", "user.email=tests@outpost.test")
UNSIGNED = ("-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false")
NEXT_COMMIT = "# A change of the next commit.\n"


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


def test_a_tag_names_the_build_and_the_next_commits_wheel_upgrades_it(tmp_path: Path) -> None:
    repository = checkout_as_a_repository(tmp_path / "repository")
    wheels.git(repository, *UNSIGNED, "tag", "--annotate", "v9.9.9", "--message", "Outpost 9.9.9")
    released = wheels.build(repository, tmp_path / "dist")
    assert released.name == "outpost-9.9.9-py3-none-any.whl"
    changed = repository / "shared" / "version.py"
    changed.write_text(changed.read_text() + NEXT_COMMIT)
    commit(repository, "The next commit")
    later = wheels.build(repository, tmp_path / "dist")
    built = re.fullmatch(r"outpost-(9\.9\.10\.dev1\+g([0-9a-f]{7,}))-py3-none-any\.whl", later.name)
    assert built, later.name
    assert wheels.git(repository, "rev-parse", "HEAD").startswith(built[2])

    bin_dir = wheels.virtualenv(tmp_path / "venv")
    for wheel, expected in ((released, "9.9.9"), (later, built[1])):
        wheels.install(bin_dir, wheel)
        for command in COMMANDS:
            assert said(bin_dir / command) == f"{command} {expected}\n"
        where = subprocess.run(
            [bin_dir / "python", "-c", "import shared.version as v; print(v.__file__)"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=wheels.SLOW,
            check=True,
        ).stdout.strip()
        assert where.startswith(str(tmp_path / "venv")), where
        assert (NEXT_COMMIT in Path(where).read_text()) is (wheel == later)
