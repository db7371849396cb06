"""A command line's `main(argv)` run in the test's own process, as its own process would run it.

Starting Python with sqlalchemy, psycopg and flask costs a test about 1.5 s of CPU a command. Run
here, a command gets what the process would have: the environment, the working directory, its
own stdout and stderr (bytes in the locale's encoding, read back as `subprocess` reads a pipe),
logging unconfigured (so that its logs go to its stderr), Python's default warning filters (a
warning printed to its stderr) and an exit code from what it returned or raised. What it changed
(the environment, the directory, logging, signal handlers) is put back after, so that one test's
command cannot reach the next.
"""

from __future__ import annotations

import io
import locale
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import chdir, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

Main = Callable[[list[str]], int | None]

# What Python ignores when started without -W or PYTHONWARNINGS.
_IGNORED_BY_DEFAULT = (
    DeprecationWarning,
    PendingDeprecationWarning,
    ImportWarning,
    ResourceWarning,
)


def run(
    main: Main,
    prog: str,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    *,
    alone: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`prog ARGS…` run by `main`, with `env` over this process's environment (`alone`: `env`
    alone, as `subprocess.run(env=…)` gives it), in `cwd`."""
    out, err = _Pipe("strict"), _Pipe("backslashreplace")
    with (
        _environment(env, alone),
        chdir(cwd),
        _fresh_logging(),
        _signals_kept(),
        redirect_stdout(out.stream),
        redirect_stderr(err.stream),
        _warnings_to(err.stream),
    ):
        code = _exit_code(main, list(args))
    return subprocess.CompletedProcess([prog, *args], code, out.read(), err.read())


class _Pipe:
    """A standard stream as a process's is (text over bytes), read back as a parent reads it."""

    def __init__(self, errors: str) -> None:
        self._bytes = io.BytesIO()
        self._encoding = locale.getpreferredencoding(False)
        self.stream = io.TextIOWrapper(self._bytes, encoding=self._encoding, errors=errors)

    def read(self) -> str:
        """Everything written, decoded with universal newlines (`subprocess`'s text mode)."""
        self.stream.flush()
        text = self._bytes.getvalue().decode(self._encoding)
        return text.replace("\r\n", "\n").replace("\r", "\n")


def _exit_code(main: Main, argv: list[str]) -> int:
    """What `sys.exit(main(argv))` would make the exit code; a traceback on stderr and 1 for an
    exception, as the interpreter does."""
    try:
        code: object = main(argv)
    except SystemExit as exc:
        code = exc.code
    except Exception:
        traceback.print_exc()
        return 1
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


@contextmanager
def _environment(env: Mapping[str, str], alone: bool) -> Iterator[None]:
    """`env` over os.environ (`alone`: instead of it) while the block runs (TZ taking effect),
    then os.environ as it was."""
    saved = dict(os.environ)
    if alone:
        os.environ.clear()
    os.environ.update(env)
    try:
        _tzset_if_changed(saved.get("TZ"))
        yield
    finally:
        changed = os.environ.get("TZ")
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)
        _tzset_if_changed(changed)


def _tzset_if_changed(before: str | None) -> None:
    """Let the time functions follow TZ when it is no longer `before`."""
    if os.environ.get("TZ") != before:
        time.tzset()


@contextmanager
def _fresh_logging() -> Iterator[None]:
    """No handler on the root logger, as in a new process, while the block runs; after it,
    logging's handlers, levels and flags as they were."""
    root = logging.getLogger()
    handlers, disabled_below = root.handlers[:], root.manager.disable
    flags = (logging._srcfile, logging.logThreads, logging.logMultiprocessing)
    loggers = {name: _state(logger) for name, logger in _loggers().items()}
    loggers[""] = _state(root)
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        for name, logger in [("", root), *_loggers().items()]:
            logger.level, logger.disabled, logger.propagate = loggers.get(
                name, (logging.NOTSET, False, True)
            )
        logging.disable(disabled_below)  # also empties the loggers' caches of levels
        logging._srcfile, logging.logThreads, logging.logMultiprocessing = flags


def _loggers() -> dict[str, logging.Logger]:
    """Every logger made so far, by name."""
    made = logging.getLogger().manager.loggerDict
    return {name: each for name, each in made.items() if isinstance(each, logging.Logger)}


def _state(logger: logging.Logger) -> tuple[int, bool, bool]:
    return logger.level, logger.disabled, logger.propagate


@contextmanager
def _signals_kept() -> Iterator[None]:
    """Every signal's handler as it was before the block, whatever the block installed."""
    saved = {number: signal.getsignal(number) for number in signal.valid_signals()}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None and signal.getsignal(number) is not handler:
                signal.signal(number, handler)


@contextmanager
def _warnings_to(stream: io.TextIOWrapper) -> Iterator[None]:
    """Python's default warning filters while the block runs, not the test run's; each warning
    they let through written to `stream` after it, as a process prints it to its stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        for category in _IGNORED_BY_DEFAULT:
            warnings.simplefilter("ignore", category)
        yield
    for warning in caught:
        stream.write(
            warnings.formatwarning(
                warning.message, warning.category, warning.filename, warning.lineno, warning.line
            )
        )
