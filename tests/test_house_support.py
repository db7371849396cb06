"""The test side's house: folders that mirror the packages, each with at most one conftest.py, and
helpers shared through `support/`, never by one test module importing another."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, insert, select
from werkzeug.routing import Map, Rule

from shared.database.models import throttle_events
from shared.runtime.logs import configure_logging
from support import (
    alone,
    bytecode,
    in_process,
    inner_pytest,
    ports,
    processes,
    route_builders,
    timing,
)
from support.processes import ROOT
from support.rows import let_time_pass

TESTS = Path(__file__).resolve().parent
# Collected after the run compiled the checkout: a module edited since is newer than its bytecode.
COLLECTED = time.time()


def imported(source: str, package: list[str]) -> Iterator[str]:
    """Every module `source` imports, relative imports resolved, `from X import y` as X.y."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield from (f"{module}.{alias.name}" for alias in node.names)


def imported_test_modules(path: Path) -> list[str]:
    """The test modules that the file at `path`, under tests/, imports."""
    package = ["tests", *path.relative_to(TESTS).parent.parts]
    names = imported(path.read_text(), package)
    return [name for name in names if is_test_module(name)]


def is_test_module(name: str) -> bool:
    """A module under `tests` whose own name says it holds tests."""
    parts = name.split(".")
    return parts[0] == "tests" and any(part.startswith("test_") for part in parts[1:])


def test_no_test_module_imports_another() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in imported_test_modules(path)
    ]
    assert found == [], "move the helper into support/:\n" + "\n".join(found)


# A folder for each face of the code; tests of the house itself and of the README stay on top.
FOLDERS = {"api", "relay", "shared", "operators", "migrations", "e2e", "bench"}
AT_THE_TOP = 10


def test_the_tests_sit_in_folders_that_mirror_the_packages() -> None:
    modules = sorted(path.name for path in TESTS.glob("*.py"))
    assert len(modules) <= AT_THE_TOP, f"{len(modules)} modules at the top of tests/: {modules}"
    folders = {path.name for path in TESTS.iterdir() if (path / "__init__.py").exists()}
    assert folders == FOLDERS, f"tests/ folders {sorted(folders)}, expected {sorted(FOLDERS)}"
    for folder in FOLDERS:
        tests = list((TESTS / folder).rglob("test_*.py"))
        assert tests, f"tests/{folder} holds no test"
        conftests = list((TESTS / folder).rglob("conftest.py"))
        assert len(conftests) <= 1, f"tests/{folder}: one conftest.py, found {conftests}"


def test_the_check_sees_absolute_relative_and_package_imports() -> None:
    source = "\n".join(
        [
            "import tests.test_a",
            "from tests.test_b import helper",
            "from tests import test_c",
            "from .test_d import helper",
            "from . import test_e",
            "from tests.conftest import fixture",
            "from support.dashboard import signed_in",
        ]
    )
    names = [name for name in imported(source, ["tests"]) if is_test_module(name)]
    assert {name.split(".")[1] for name in names} == {f"test_{x}" for x in "abcde"}


def test_a_process_a_failed_test_left_running_is_killed_with_its_children(
    tmp_path: Path,
) -> None:
    """What `no_process_left` does after every test: stopped or not, nothing survives."""
    process = processes.start(["sh", "-c", "sleep 300 & wait"], {}, tmp_path, tmp_path / "log")
    os.kill(process.pid, signal.SIGSTOP)
    processes.kill_leftovers()
    assert process.poll() == -signal.SIGKILL

    def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    # The orphaned `sleep` is killed too; its new parent reaps it a moment later.
    processes.eventually(group_gone, 10, "the process group gone")


def test_the_timing_comparison_passes_alike_and_fails_a_real_difference() -> None:
    """support.timing, which the enumeration tests rely on, can fail: 40 % more time does.

    Sleeps of 50 ms, not 10: beside ten CPU burners a sleeper's late wakes hid 4 ms of 10 in 11
    of 15 tries (one attempt of three passing is enough), and 20 ms of 50 in none of 8.
    """

    def sleeping(extra: float) -> Callable[[int], timing.Pairs]:
        def measure(attempt: int) -> timing.Pairs:
            def request(kind: str, n: int) -> None:
                time.sleep(0.05 * (1 + extra if kind == "slow" else 1))

            return timing.alternating_pairs(request, ("fast", "slow"), 20)

        return measure

    timing.assert_same_time(sleeping(0.0), 0.10, "alike")
    with pytest.raises(AssertionError, match="differ by more than 10%"):
        timing.assert_same_time(sleeping(0.4), 0.10, "40 % more")


@pytest.mark.parametrize(("beyond", "difference"), [(19, False), (20, True)])
@pytest.mark.parametrize("side", [1.5, 0.5])
def test_a_difference_is_a_count_of_pairs_beyond_the_tolerance_that_chance_rarely_reaches(
    beyond: int, difference: bool, side: float
) -> None:
    """Of 30 pairs, 20 beyond the tolerance on one side happen by chance 4.9 % of the time at
    a median exactly that far, 19 happen 10 %; the pairs within it, however far their median,
    do not count."""
    within = 30 - beyond
    pairs = timing.Pairs((1.0,) * 30, (side,) * beyond + (1.05,) * within)
    assert pairs.shows_a_difference(0.10) is difference
    named = "slower" if side > 1 else "faster"
    assert pairs.figures(0.10).endswith(f"{beyond} of 30 pairs {named}")


def test_a_command_run_in_process_gets_what_a_process_would_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    """support.in_process: the environment, directory, output, logs, warnings and exit code of a
    process; what the command changed put back."""
    environment, directory = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    handlers, level, on_usr1 = root.handlers[:], root.level, signal.getsignal(signal.SIGUSR1)

    def main(argv: list[str]) -> int:
        assert (os.getcwd(), os.environ["GREETING"]) == (str(tmp_path), "hello")
        os.environ["LEFT"] = "behind"
        os.chdir("/")
        configure_logging()
        logging.getLogger("made.here").setLevel(logging.ERROR)
        logging.getLogger("outpost.test").info("logged")
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        warnings.warn("shown", UserWarning, stacklevel=1)
        warnings.warn("hidden", DeprecationWarning, stacklevel=1)
        print(" ".join(argv))
        raise SystemExit(3)

    run = in_process.run(
        main, "prog", ["a", "b"], {"GREETING": "hello", "LOG_LEVEL": "INFO"}, tmp_path
    )

    assert (run.args, run.returncode, run.stdout) == (["prog", "a", "b"], 3, "a b\n")
    logged, *warned = run.stderr.splitlines()
    assert json.loads(logged)["message"] == "logged"
    assert "UserWarning: shown" in warned[0] and "hidden" not in run.stderr
    assert (dict(os.environ), os.getcwd()) == (environment, directory)
    assert (root.handlers, root.level, signal.getsignal(signal.SIGUSR1)) == (
        handlers,
        level,
        on_usr1,
    )
    assert logging.getLogger("made.here").level == logging.NOTSET
    failed = in_process.run(lambda argv: 1 // 0, "prog", [], {}, tmp_path)
    assert failed.returncode == 1 and "ZeroDivisionError" in failed.stderr


def test_an_alone_test_runs_beside_the_others_but_never_beside_another_alone_one(
    tmp_path: Path,
) -> None:
    log: list[str] = []

    def run(name: str, is_alone: bool, worker: int) -> threading.Thread:
        def test() -> None:
            with alone.turn(tmp_path, is_alone, worker, 3):
                log.append(f"{name} in")
                log.append(f"{name} out")

        thread = threading.Thread(target=test)
        thread.start()
        return thread

    with alone.turn(tmp_path, True, 0, 3):
        others = [run("second", False, 1), run("third", False, 2)]
        for thread in others:
            thread.join(timeout=30)
        assert sorted(log) == ["second in", "second out", "third in", "third out"]
        another = run("another alone", True, 1)
        time.sleep(0.2)
        assert "another alone in" not in log, "two alone tests ran at once"
    another.join(timeout=30)
    assert log[-2:] == ["another alone in", "another alone out"]


def test_an_alone_test_without_a_neighbour_runs_beside_none(tmp_path: Path) -> None:
    log: list[str] = []

    def neighbour_test() -> None:
        with alone.turn(tmp_path, False, 1, 3):
            log.append("neighbour")

    with alone.turn(tmp_path, True, 0, 3, beside=False):
        thread = threading.Thread(target=neighbour_test)
        thread.start()
        time.sleep(0.2)
        assert log == [], "the neighbour ran beside a test that wants none"
    thread.join(timeout=30)
    assert log == ["neighbour"]


# Six interpreters load pytest: a few seconds quiet, a minute on a loaded machine.
@pytest.mark.timeout(600)
def test_a_skip_at_run_time_fails_the_run_and_a_clean_run_passes(tmp_path: Path) -> None:
    """Under xdist, as the suite runs: the workers' skips reach the controller."""
    (tmp_path / "test_some.py").write_text(
        "import os, pytest\n"
        "def test_runs(): pass\n"
        "def test_maybe():\n"
        "    if os.environ.get('SKIP_ONE'): pytest.skip('a tool is missing')\n"
    )

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            inner_pytest.command("-p", "support.no_skips", "-n", "2", "-rs", str(tmp_path)),
            cwd=tmp_path, capture_output=True, text=True, timeout=500,
            env=inner_pytest.environment(**extra),
        )  # fmt: skip

    clean, skipping = run(), run(SKIP_ONE="1")
    assert clean.returncode == 0, clean.stdout
    assert skipping.returncode == pytest.ExitCode.TESTS_FAILED, skipping.stdout
    assert "1 test(s) skipped: nothing may be skipped here" in skipping.stdout


def test_the_checkout_is_compiled_before_the_run() -> None:
    """Every module of the checkout's packages has its bytecode, newer than its source unless
    edited during the run, for the processes the tests start to read (support.bytecode)."""
    for package in bytecode.PACKAGES:
        for source in (processes.ROOT / package).rglob("*.py"):
            compiled = Path(importlib.util.cache_from_source(str(source)))
            assert compiled.exists(), source
            edited = source.stat().st_mtime
            assert compiled.stat().st_mtime >= edited or edited > COLLECTED, source


def test_time_passes_for_every_throttle_event_to_the_microsecond(engine: Engine) -> None:
    """support.rows.let_time_pass moves each event back by whole seconds in one statement, its
    fraction of a second kept, across a day and a month."""
    times = [
        datetime(2026, 11, 29, 4, 0, 30, 123456, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 0, 0, 7, tzinfo=UTC),
    ]
    with engine.begin() as connection:
        rows = [{"key": f"subject-{n}", "at": at} for n, at in enumerate(times)]
        connection.execute(insert(throttle_events), rows)
    let_time_pass(engine, 61)
    let_time_pass(engine, 86400)
    with engine.connect() as connection:
        found = select(throttle_events.c.at).order_by(throttle_events.c.id)
        aged = connection.execute(found).scalars().all()
    assert aged == [at - timedelta(seconds=86461) for at in times]


def test_a_remembered_url_builder_is_the_one_werkzeug_compiles(app: Flask) -> None:
    """Each rule of the API builds with the code werkzeug compiles for it; a rule with a default
    for its own variable keeps its own default, though another application's rule is alike."""
    for rule in app.url_map.iter_rules():
        for unknown, built in ((False, rule._build), (True, rule._build_unknown)):
            compiled = route_builders.compile_builder(rule, unknown).__code__
            assert built.__code__.co_code == compiled.co_code, rule
            assert built.__code__.co_consts == compiled.co_consts, rule
            assert built.__code__.co_varnames == compiled.co_varnames, rule
    pages = [
        Map([Rule("/page/<int:number>", defaults={"number": n}, endpoint="page")]) for n in (1, 2)
    ]
    assert [page.bind("example.com").build("page", {}) for page in pages] == ["/page/1", "/page/2"]


@pytest.mark.parametrize("tmpdir", [None, "own"])
def test_a_second_run_side_by_side_gets_its_ports_from_another_slice(
    tmpdir: str | None, tmp_path: Path
) -> None:
    """The slice free_port hands ports from is held by its process: another process on the
    machine, as a worker of a second run would, gets its ports from another slice, even with a
    TMPDIR of its own (as the orphaned servers' test gives its child)."""
    mine = ports.free_port()
    script = "from support import ports; print(ports.free_port(), ports.LOCKS)"
    env = {**os.environ, "TMPDIR": str(tmp_path)} if tmpdir else None
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    port, locks = done.stdout.split()
    theirs = int(port)
    # The same locks, or the two processes would each see the other's slice as free.
    assert Path(locks) == ports.LOCKS

    def slice_of(port: int) -> int:
        return (port - ports.FIRST_PORT) // ports.SLICE

    assert slice_of(mine) != slice_of(theirs), (mine, theirs)
