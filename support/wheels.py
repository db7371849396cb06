"""Outpost's wheel built from a git tree, installed in a virtualenv of its own that borrows this
one's dependencies: a build of any commit runs as installed, without a download."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

# Building and installing without the package registry: a few seconds each, on a loaded machine
# many times that.
SLOW = 300


def git(cwd: Path, *args: str) -> str:
    """A git command's output in `cwd`, stripped; AssertionError with its stderr if it fails."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=SLOW, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout.strip()


def export(repository: Path, commit: str, target: Path) -> Path:
    """The tree of `commit` written out under `target`, without git metadata (`git archive`)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit],
        cwd=repository,
        capture_output=True,
        timeout=SLOW,
        check=True,
    ).stdout
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, timeout=SLOW, check=True)
    return target


def build(source: Path, out: Path, version: str | None = None) -> Path:
    """The wheel of the tree at `source`, built in this environment (its setuptools and
    setuptools-scm: nothing downloaded); `version` stands for what git would say."""
    env = dict(os.environ)
    if version is not None:
        env["SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OUTPOST"] = version
    before = set(out.glob("*.whl"))
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=SLOW,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [wheel] = set(out.glob("*.whl")) - before
    return wheel


def virtualenv(path: Path) -> Path:
    """A new virtualenv at `path` that sees this one's packages after its own; its bin/.

    Its own site-packages come first, so a wheel installed there is what it imports. This
    environment's directory is a plain path entry: its .pth files (this checkout's editable
    install among them) are not run there, so they shadow nothing.
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=SLOW
    )
    python = path / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=SLOW,
    ).stdout.strip()
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(own) / "borrowed-dependencies.pth").write_text("".join(f"{d}\n" for d in borrowed))
    return path / "bin"


def install(bin_dir: Path, wheel: Path) -> None:
    """`pip install --upgrade` of the wheel alone into the virtualenv of `bin_dir`, by this
    environment's pip (the virtualenv has none), never asking the package registry."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_dir / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--upgrade",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=SLOW,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def installed(bin_dir: Path, cwd: Path) -> str:
    """The version the virtualenv of `bin_dir` has installed, as a process of it started in
    `cwd` reads it (not this one: a checkout on its path may hold a stale `outpost.egg-info`)."""
    return subprocess.run(
        [bin_dir / "python", "-c", "from shared.runtime.version import version; print(version())"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SLOW,
        check=True,
    ).stdout.strip()
