"""The version of the installed build, as setuptools-scm derived it from git when it was built."""

from __future__ import annotations

from importlib.metadata import version as installed_version

DISTRIBUTION = "outpost"


def version() -> str:
    """`X.Y.Z` built on the release tag `vX.Y.Z`, `X.Y.Z.devN+gHASH` built N commits after it."""
    return installed_version(DISTRIBUTION)
