"""Debian's PgBouncer in transaction pooling mode, in front of the tests' PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from support import processes
from support.databases import PG_URL, libpq_url
from support.ports import free_port

BINARY = Path(os.environ.get("OUTPOST_PGBOUNCER", "/usr/sbin/pgbouncer"))
# PgBouncer refuses to run as root.
OS_USER = "postgres"


def available() -> bool:
    """Whether pgbouncer is installed here (`apt install pgbouncer`)."""
    return BINARY.exists()


class PgBouncer:
    """Transaction pooling on 127.0.0.1 and a free port, trust auth, every database passed on
    to the server of TEST_DATABASE_URL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="outpost-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None
        upstream = make_url(libpq_url(PG_URL))
        user = upstream.username or "postgres"
        (self.base / "users.txt").write_text(f'"{user}" ""\n')
        (self.base / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={upstream.host or '127.0.0.1'} port={upstream.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.base}\n"
            "auth_type = trust\n"
            f"auth_file = {self.base / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 500\n"
            "default_pool_size = 20\n"
            f"logfile = {self.base / 'pgbouncer.log'}\n"
        )
        if os.geteuid() == 0:
            shutil.chown(self.base, user=OS_USER, group=OS_USER)
            for path in self.base.iterdir():
                shutil.chown(path, user=OS_USER, group=OS_USER)

    def url_of(self, database_url: str) -> str:
        """`database_url` (on the tests' server) reached through the pooler instead."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def log_text(self) -> str:
        """PgBouncer's log so far."""
        try:
            return (self.base / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> PgBouncer:
        self._process = processes.tied(
            [BINARY, self.base / "pgbouncer.ini"],
            self.base,
            self.base / "pgbouncer.out",
            user=OS_USER if os.geteuid() == 0 else None,
        )
        deadline = time.monotonic() + 15
        while "process up" not in self.log_text():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"pgbouncer did not start:\n{self.log_text()}")
            time.sleep(0.05)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)
