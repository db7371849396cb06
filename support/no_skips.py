"""A pytest plugin: a test skipped at run time fails the run (docs/operations.md: nothing is
skipped; a missing tool or extra must show as a failure, never as a quiet `s`)."""

from __future__ import annotations

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The controller's run ends `1` when it reported any skip; xdist's workers report none."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != pytest.ExitCode.OK:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped:
        reporter.write_line(
            f"{len(skipped)} test(s) skipped: nothing may be skipped here (support/no_skips.py)",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
