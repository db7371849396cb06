"""Debian's postgrey, the greylisting policy server, for the tests' private Postfix: its own
database and empty whitelists, every new (client, sender, recipient) deferred for `delay`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from support import processes
from support.processes import eventually, listening

BINARY = Path("/usr/sbin/postgrey")
USER = "postgrey"


def available() -> bool:
    """Whether postgrey is installed here and can be started (as root, to drop to its user)."""
    return BINARY.exists() and os.geteuid() == 0


class Postgrey:
    """postgrey listening on 127.0.0.1:`port`, greylisting for `delay` seconds, until closed."""

    def __init__(self, port: int, delay: int) -> None:
        self.port = port
        self.base = Path(tempfile.mkdtemp(prefix="outpost-postgrey-"))
        self.base.chmod(0o755)
        database = self.base / "db"
        database.mkdir()
        owner = pwd.getpwnam(USER)
        os.chown(database, owner.pw_uid, owner.pw_gid)
        empty = self.base / "whitelist"
        empty.write_text("")
        # As its user (the default of its --user) from the start: changing user itself, it would
        # lose the signal that stops it with this process (support/processes.py).
        self._process = processes.tied(
            [
                BINARY,
                f"--inet=127.0.0.1:{port}",
                f"--delay={delay}",
                f"--dbdir={database}",
                # No client earns a pass by delivering: every new recipient is greylisted.
                "--auto-whitelist-clients=0",
                f"--whitelist-clients={empty}",
                f"--whitelist-recipients={empty}",
            ],
            self.base,
            self.base / "postgrey.log",
            user=USER,
        )
        eventually(self._listening, 30, "postgrey listening")

    def _listening(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError((self.base / "postgrey.log").read_text())
        return listening(self.port)

    def close(self) -> None:
        """Stop it and remove its database."""
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Postgrey:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
