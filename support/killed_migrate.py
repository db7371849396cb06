"""`outpost migrate` killed (SIGKILL) at a named point inside a migration, and run again.

A point is a migration and how many of its statements have run (its version stamp among them),
or its commit: the process kills itself there, where no timing could make the kill land
elsewhere. Each run is a process forked from one that has already imported Outpost, so that a
hundred runs cost a hundred migrations rather than a hundred interpreter starts; it runs
`outpost migrate` as the console script does (`outpost.cli.main`).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from support.processes import ROOT

# What alembic writes its version with: a migration's last statements.
STAMPS = ("INSERT INTO ALEMBIC_VERSION", "UPDATE ALEMBIC_VERSION")


@dataclass(frozen=True)
class Kill:
    """Inside `revision`'s migration, once `after` of its statements have run; None: at its
    commit, once it is stamped (or as the next one starts, where it was not committed)."""

    revision: str
    after: int | None = None


@dataclass(frozen=True)
class Ran:
    """How a run ended (a negative signal number when killed), what it said, and how many of
    the migration's statements had run when it was killed."""

    returncode: int
    output: str
    statements: int | None


class KilledMigrate:
    """Runs of `outpost migrate`, each killed where it is told; a context manager."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.runs = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.killed_migrate"],
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> KilledMigrate:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)

    def run(self, url: str, kill: Kill | None = None) -> Ran:
        """`outpost migrate` on `url`, killed at `kill` (None: left to finish)."""
        self.runs += 1
        output = self.cwd / f"migrate-{self.runs}.out"
        report = self.cwd / f"migrate-{self.runs}.killed"
        request = {
            "env": {"PATH": "/usr/bin:/bin", "DATABASE_URL": url},
            "output": str(output),
            "report": str(report),
            "kill": None if kill is None else [kill.revision, kill.after],
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        returncode = json.loads(self.process.stdout.readline())["returncode"]
        statements = int(report.read_text()) if report.exists() else None
        return Ran(returncode, output.read_text(), statements)


class _Point:
    """Where the run is: the migration under way and how many of its statements have run."""

    kill: Kill | None = None
    report = ""
    revision: str | None = None
    statements = 0
    stamped = False

    @classmethod
    def entered(cls, revision: str) -> None:
        """A migration starts: the one before it is done, committed or not (alembic's one
        transaction for them all commits none on its own)."""
        if cls.here(at_commit=True):
            _die()
        cls.revision, cls.statements, cls.stamped = revision, 0, False

    @classmethod
    def here(cls, at_commit: bool) -> bool:
        """Whether this is the point to kill at: the statement count asked for, or the
        migration's commit (where one asked for past its last statement ends too)."""
        if cls.kill is None or cls.kill.revision != cls.revision:
            return False
        return cls.stamped if at_commit else cls.kill.after == cls.statements


def _die() -> None:
    Path(_Point.report).write_text(str(_Point.statements))
    os.kill(os.getpid(), signal.SIGKILL)


def _before_statement(
    _connection: Any, _cursor: Any, statement: str, *_rest: Any, **_named: Any
) -> None:
    if _Point.revision is None:
        return
    if _Point.here(at_commit=False):
        _die()
    _Point.statements += 1
    _Point.stamped = _Point.stamped or statement.lstrip().upper().startswith(STAMPS)


def _before_commit(_connection: Any) -> None:
    if _Point.here(at_commit=True):
        _die()


def _watch() -> None:
    """Count every engine's statements and commits, and note each migration as it starts."""
    from alembic.runtime.migration import RevisionStep
    from alembic.script import Script
    from alembic.script.revision import RevisionMap
    from sqlalchemy import Engine, event

    event.listen(Engine, "before_cursor_execute", _before_statement)
    event.listen(Engine, "commit", _before_commit)
    made = RevisionStep.__init__

    def init(
        step: RevisionStep, revision_map: RevisionMap, revision: Script, is_upgrade: bool
    ) -> None:
        made(step, revision_map, revision, is_upgrade)
        run = step.migration_fn

        @functools.wraps(run)
        def entered(**kw: Any) -> Any:
            _Point.entered(revision.revision)
            return run(**kw)

        step.migration_fn = entered

    RevisionStep.__init__ = init  # type: ignore[method-assign, assignment]


def _child(request: dict[str, Any], migrate: Any) -> None:
    """Run `outpost migrate` as `request` says, in this forked process, and end it."""
    code = 1
    try:
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        _Point.report = request["report"]
        _Point.kill = Kill(*request["kill"]) if request["kill"] else None
        code = migrate(["migrate"])
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    """Import Outpost and alembic once, then fork one run a line of stdin; its end on stdout."""
    import alembic.command  # noqa: F401  # loaded before the forks, not in each

    from outpost.cli import main as migrate

    _watch()
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            _child(json.loads(line), migrate)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
