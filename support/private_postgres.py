"""A private, throwaway PostgreSQL 15 cluster: for tests that stop and restart the database, and for
benches that read its statistics and its processes' CPU."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg

from shared.settings.database_url import normalise_database_url
from support import processes
from support.ports import free_port

BIN = Path(os.environ.get("OUTPOST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


def available() -> bool:
    """Whether initdb and pg_ctl exist here and we can run them (as `postgres` when root)."""
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        return False
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return shutil.which("runuser") is not None


class PrivatePostgres:
    """initdb into a temp dir, trust auth, 127.0.0.1 on a free port, sockets in the temp dir.

    `settings` are written after the defaults of `init`, so they override them (a bench loads
    pg_stat_statements and turns full-page writes back on, for instance).
    """

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self.settings = dict(settings or {})
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="outpost-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.running = False
        self._server: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.base, user=OS_USER, group=OS_USER)
            self.base.chmod(0o700)

    @property
    def url(self) -> str:
        """The libpq URL of the cluster's `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def sqlalchemy_url(self) -> str:
        """The same URL for SQLAlchemy, on the psycopg 3 driver."""
        return normalise_database_url(self.url)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary (as `postgres` when we are root); raise with its output."""
        command = [str(BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.base, capture_output=True, text=True, timeout=90, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"{result.stdout}{result.stderr}\n--- server log ---\n{self.log_text()}"
            )
        return result

    def init(self) -> None:
        """Create the cluster: trust auth, no fsync, listening on 127.0.0.1 only."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            **self.settings,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# outpost tests\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def follow(self, primary: PrivatePostgres) -> None:
        """Become `primary`'s streaming standby: a base backup of it (-R), on our own port."""
        self._run(
            "pg_basebackup",
            *("-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        # After pg_basebackup's primary_conninfo, and after any ALTER SYSTEM it copied: ours.
        # Promoted, a standby runs alone: it names no synchronous standby of its own.
        settings = {
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "synchronous_standby_names": "''",
            **self.settings,
        }
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def promote(self) -> None:
        """`pg_ctl promote` this standby, and wait until it takes writes."""
        self._run("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data))

    def kill(self) -> None:
        """`kill -9` the server and each of its processes at once, as when its machine dies."""
        postmaster = self.postmaster
        children = [
            int(stat.parent.name)
            for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent(stat) == postmaster
        ]
        for pid in (postmaster, *children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._server is not None:
            self._server.wait(10)
        self.running = False

    @property
    def postmaster(self) -> int:
        """The process id of the running server, whose children are its backends."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def start(self) -> None:
        """Start the server, as this process's child rather than `pg_ctl start`'s daemon, and
        wait until it accepts connections (as `pg_ctl start -w` does)."""
        self._server = processes.tied(
            [BIN / "postgres", "-D", self.data],
            self.base,
            self.log,
            user=OS_USER if os.geteuid() == 0 else None,
            # Immediate shutdown: what it would keep is for nobody once its test process is gone.
            dying=signal.SIGQUIT,
            append=True,
        )
        deadline = time.monotonic() + 60
        while self._status() not in ("ready", "standby"):
            if self._server.poll() is not None or time.monotonic() > deadline:
                processes.stop(self._server, signal.SIGKILL)
                raise RuntimeError(f"postgres did not start\n--- server log ---\n{self.log_text()}")
            time.sleep(0.05)
        self.running = True

    def _status(self) -> str:
        """What the running server's postmaster.pid says of it (`starting`, `ready`, …)."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return ""
        ours = self._server is not None and lines[:1] == [str(self._server.pid)]
        return lines[7].strip() if ours and len(lines) > 7 else ""

    def stop(self) -> None:
        """Stop the server (fast mode: disconnect clients, roll back) and wait for it."""
        if self._server is not None:
            processes.stop(self._server, signal.SIGINT, 60)
        self.running = False

    def restart(self) -> None:
        """Stop then start again, same port and data."""
        self.stop()
        self.start()

    def configure(self, name: str, value: str | None) -> None:
        """ALTER SYSTEM SET `name` (RESET when None) and reload: every backend takes it."""
        change = f"RESET {name}" if value is None else f"SET {name} = '{value}'"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"ALTER SYSTEM {change}")
            connection.execute("SELECT pg_reload_conf()")

    def ask_passwords(self) -> None:
        """From now on every role but `postgres` signs in over TCP with its password
        (scram-sha-256), as a production server asks: a wrong one is refused."""
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute("SELECT pg_reload_conf()")

    def freeze(self) -> None:
        """SIGSTOP the server and every process it started: it answers nothing, refuses nothing
        (the kernel still accepts connections), as a hung host would."""
        postmaster = self.postmaster
        os.kill(postmaster, signal.SIGSTOP)
        for child in _children(postmaster):
            os.kill(child, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what `freeze` stopped."""
        postmaster = self.postmaster
        for child in _children(postmaster):
            os.kill(child, signal.SIGCONT)
        os.kill(postmaster, signal.SIGCONT)

    def log_text(self) -> str:
        """The server's log so far, for failure messages."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the server if it runs and remove the directory; never raises."""
        try:
            self.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.init()
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


def _parent(stat: Path) -> int | None:
    """The parent's pid in a /proc/PID/stat file; None once the process is gone."""
    try:
        return int(stat.read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]
