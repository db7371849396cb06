"""`outpost deploy-files DIR`: the files a server needs beside the package (systemd units, the
nginx site, Prometheus's scrape example and alert rules), naming the virtualenv it runs from."""

from __future__ import annotations

import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "deploy"
# Where a shipped file names the virtualenv (the units' ExecStart=); never a source tree.
VENV_MARK = "@VENV@"
COMMANDS = ("outpost", "outbox-relay")


class NotAVirtualenv(Exception):
    """A --venv that holds no installed Outpost: the units would name commands that do not exist."""


def default_venv() -> Path:
    """The virtualenv of the Python running this command."""
    return Path(sys.prefix)


def write(target: Path, venv: Path) -> list[Path]:
    """Write every shipped file under `target`, in its folder (systemd/, nginx/, prometheus/),
    with the virtualenv's path in place of VENV_MARK; the files written."""
    venv = venv.absolute()
    missing = [name for name in COMMANDS if not (venv / "bin" / name).is_file()]
    if missing:
        raise NotAVirtualenv(
            f"{venv} has no {' or '.join(f'bin/{name}' for name in missing)}: "
            "pass --venv, the virtualenv Outpost is installed in"
        )
    written = []
    for source in sorted(path for path in SHIPPED.rglob("*") if path.is_file()):
        out = target / source.relative_to(SHIPPED)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(source.read_text(encoding="utf-8").replace(VENV_MARK, str(venv)))
        written.append(out)
    return written
