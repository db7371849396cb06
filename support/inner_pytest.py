"""A pytest run inside a test of the suite's own machinery: this interpreter, the checkout on its
path, and only the plugins it names.

Autoloaded, the installed plugins (schemathesis, locust, hypothesis, anyio) cost each of its
interpreters about 2 s of CPU: a two-worker run of two tests took 6.6 s of CPU, 0.8 s without.
"""

from __future__ import annotations

import os
import sys

from support.processes import ROOT

PLUGINS = ("xdist.plugin", "pytest_timeout")


def command(*args: str) -> list[str]:
    """The run's command line: no cache, the addopts of no file, xdist and pytest-timeout."""
    plugins = [option for name in PLUGINS for option in ("-p", name)]
    start = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider"]
    return [*start, *plugins, *args]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment, without its own worker's xdist variables (an inner run is
    not a worker of this one) and with no plugin loaded unless named."""
    ours = {name: value for name, value in os.environ.items() if "PYTEST_XDIST" not in name}
    return {**ours, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT), **extra}
